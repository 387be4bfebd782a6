"""The OpenAI Python SDK against the guarded server: the app hands it the token as apiKey.

Usage: python openai_sdk.py BASE_URL TOKEN MODEL; prints one JSON object.
"""

import json
import sys

import openai

base, token, model = sys.argv[1:4]
messages = [{"role": "user", "content": "hi"}]
client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)
result = {"models": [m.id for m in client.models.list()]}
result["chat"] = client.chat.completions.create(model=model, messages=messages).choices[0].message.content
stream = client.chat.completions.create(model=model, messages=messages, stream=True)
result["stream"] = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
try:
    wrong = token[:-1] + ("x" if token[-1] != "x" else "y")
    openai.OpenAI(base_url=f"{base}/v1", api_key=wrong, max_retries=0).models.list()
    result["wrong_key"] = "no error"
except openai.AuthenticationError as e:
    result["wrong_key"] = {"status": e.status_code, "code": e.code, "message": e.message}
print(json.dumps(result))
