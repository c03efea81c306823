package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/spf13/cobra"

	"github.com/wharf-platform/wharf/internal/client"
)

// execFrame is one message of an exec session (api.ExecFrame on the server).
type execFrame struct {
	Command []string   `json:"command,omitempty"`
	TTY     bool       `json:"tty,omitempty"`
	Size    *termSize  `json:"tty_size,omitempty"`
	Stdin   *execData  `json:"stdin,omitempty"`
	Stdout  *execData  `json:"stdout,omitempty"`
	Stderr  *execData  `json:"stderr,omitempty"`
	Exited  bool       `json:"exited,omitempty"`
	Code    int        `json:"exit_code,omitempty"`
	Error   *problemIn `json:"error,omitempty"`
}

type execData struct {
	Data  []byte `json:"data,omitempty"`
	Close bool   `json:"close,omitempty"`
}

type termSize struct {
	Height int `json:"height"`
	Width  int `json:"width"`
}

// problemIn is an error the server sent inside the session.
type problemIn struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
}

func (c *cli) execCommand() *cobra.Command {
	var tty, noTTY bool
	cmd := &cobra.Command{
		Use:   "exec [ENV] [INSTANCE] [-- COMMAND [ARGS...]]",
		Short: "Open a shell, or run a command, in a running instance of an environment",
		Long: `Runs COMMAND (a shell when none is given) inside a running instance of ENV (default
test): INSTANCE as process.index (web.0, worker.1; the first web instance by default),
as shown by "wharf status". Without a command, and when standard input is a terminal,
the session gets a terminal of its own (its size follows this one's); --tty and
--no-tty say otherwise. wharf exits with the command's exit code.

Sessions are recorded in the organisation's audit log (who, when, which instance; not
what is typed). It needs the developer role.`,
		Example: `  wharf exec live
  wharf exec live worker.0
  wharf exec test web.0 -- ls -l /app`,
		Args: func(cmd *cobra.Command, a []string) error {
			before, after, dash := splitDash(cmd, a)
			if dash && len(after) == 0 {
				return usageErrorf("no command after \"--\"; usage: %s", cmd.UseLine())
			}
			if len(before) > 2 {
				return usageErrorf("at most ENV and INSTANCE come before \"--\"; usage: %s", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			pos, command, _ := splitDash(cmd, a)
			env, instance := "test", ""
			switch len(pos) {
			case 1:
				if strings.Contains(pos[0], ".") {
					instance = pos[0]
				} else {
					env = pos[0]
				}
			case 2:
				env, instance = pos[0], pos[1]
			}
			if instance == "" {
				instance = "-" // the server's choice: the first web instance
			}
			in, _ := c.stdin.(*os.File)
			isTerm := in != nil && isTerminal(in)
			useTTY := (len(command) == 0 && isTerm) || tty
			if noTTY {
				useTTY = false
			}
			ctx := cmd.Context()
			cl, p, r, err := c.envClient(ctx, env, "instances", instance, "exec")
			if err != nil {
				return err
			}
			code, err := c.exec(ctx, cl, p, r, command, useTTY, in)
			if err != nil {
				return err
			}
			if code != 0 {
				return &commandExit{code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "give the command a terminal even with a command or without one here")
	cmd.Flags().BoolVarP(&noTTY, "no-tty", "T", false, "give the session no terminal")
	return cmd
}

// exec runs one session and returns the command's exit code.
func (c *cli) exec(ctx context.Context, cl *client.Client, path string, r ref, command []string, tty bool, in *os.File) (int, error) {
	conn, err := cl.Dial(ctx, path)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var wmu sync.Mutex
	send := func(f execFrame) error {
		wmu.Lock()
		defer wmu.Unlock()
		return conn.WriteJSON(f)
	}
	first := execFrame{Command: command, TTY: tty}
	if tty && in != nil && isTerminal(in) {
		if h, w, ok := terminalSize(in); ok {
			first.Size = &termSize{Height: h, Width: w}
		}
		restore, err := makeRaw(in)
		if err != nil {
			return 0, fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		defer restore()
		stopResize := onResize(func() {
			if h, w, ok := terminalSize(in); ok {
				_ = send(execFrame{Size: &termSize{Height: h, Width: w}})
			}
		})
		defer stopResize()
	}
	if err := send(first); err != nil {
		return 0, &client.Unreachable{Addr: cl.Addr, Err: err}
	}
	go func() {
		// Standard input, until its end (which closes the command's).
		b := make([]byte, 32<<10)
		for {
			n, err := c.stdin.Read(b)
			if n > 0 {
				if send(execFrame{Stdin: &execData{Data: append([]byte(nil), b[:n]...)}}) != nil {
					return
				}
			}
			if err != nil {
				_ = send(execFrame{Stdin: &execData{Close: true}})
				return
			}
		}
	}()
	go func() {
		<-ctx.Done()
		conn.Close() // Ctrl-C outside a terminal session ends it
	}()
	for {
		var f execFrame
		if err := conn.ReadJSON(&f); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return 0, &exitError{code: exitServer, err: fmt.Errorf("the session in %s ended without the command's exit code", r)}
			}
			return 0, &client.Unreachable{Addr: cl.Addr, Err: err}
		}
		switch {
		case f.Stdout != nil:
			c.stdout.Write(f.Stdout.Data)
		case f.Stderr != nil:
			c.stderr.Write(f.Stderr.Data)
		case f.Exited:
			return f.Code, nil
		case f.Error != nil:
			return 0, &client.Error{Status: f.Error.Status, Code: f.Error.Code, Detail: f.Error.Detail}
		}
	}
}
