WHO = "mdep-py311"
