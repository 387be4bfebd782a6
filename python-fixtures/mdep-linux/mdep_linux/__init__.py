WHO = "mdep-linux"
