package fake

//go:generate go run ../../internal/genfakes ../../system fake.go
