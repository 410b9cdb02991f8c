module github.com/real-estate-os/reos

go 1.26
