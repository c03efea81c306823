//go:build !linux

package main

import "os"

// withoutEcho runs read; hiding what is typed is implemented for Linux only.
func withoutEcho(_ *os.File, read func() (string, error)) (string, error) { return read() }
