package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// withoutEcho runs read with the terminal f not echoing what is typed (a token, a
// secret), and restores it afterwards.
func withoutEcho(f *os.File, read func() (string, error)) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return read()
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return read()
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	return read()
}
