// Package repo finds the clone of this repository a command runs in.
package repo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Module is the module path go.mod declares.
const Module = "github.com/real-estate-os/reos"

// Root is the folder at or above the working directory whose go.mod
// declares Module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module "+Module+"\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of %s at or above %s: run it inside a clone of the repository", Module, dir)
		}
	}
}
