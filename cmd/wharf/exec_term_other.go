//go:build !linux

package main

import (
	"errors"
	"os"
)

// terminalSize is implemented for Linux only.
func terminalSize(*os.File) (int, int, bool) { return 0, 0, false }

// makeRaw is implemented for Linux only.
func makeRaw(*os.File) (func(), error) {
	return nil, errors.New("terminal sessions are implemented for Linux only; pass --no-tty")
}

// onResize is implemented for Linux only.
func onResize(func()) func() { return func() {} }
