WHO = "mdep-py312"
