WHERE = "pthdemo_extra"
