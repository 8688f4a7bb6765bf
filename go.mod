module github.com/parlance-chat/parlance

go 1.26.0
