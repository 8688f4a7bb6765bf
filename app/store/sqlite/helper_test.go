package sqlite

func helperMain() bool { return false }
