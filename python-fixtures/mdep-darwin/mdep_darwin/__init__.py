WHO = "mdep-darwin"
