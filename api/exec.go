package api

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// Execs is what the exec route needs; *platform.Runs is one.
type Execs interface {
	OpenExec(ctx context.Context, p platform.Principal, ref platform.EnvRef, instance string) (platform.ExecTarget, error)
	Exec(ctx context.Context, x platform.ExecTarget, s platform.ExecSession) (int, error)
}

var _ Execs = (*platform.Runs)(nil)

// ExecFrame is one WebSocket message of an exec session, JSON in a text message. The
// client's first message names the command (the instance's shell when empty) and
// whether it gets a terminal, with its size; then it sends stdin (data, and close at
// its end) and new terminal sizes. The server sends stdout and stderr, and last either
// exited with the exit code or error.
type ExecFrame struct {
	Command []string               `json:"command,omitempty"`
	TTY     bool                   `json:"tty,omitempty"`
	Size    *platform.TerminalSize `json:"tty_size,omitempty"`
	Stdin   *ExecData              `json:"stdin,omitempty"`

	Stdout   *ExecData `json:"stdout,omitempty"`
	Stderr   *ExecData `json:"stderr,omitempty"`
	Exited   bool      `json:"exited,omitempty"`
	ExitCode int       `json:"exit_code,omitempty"`
	Error    *Problem  `json:"error,omitempty"`
}

// ExecData is a piece of a stream (base64 in JSON), or its end.
type ExecData struct {
	Data  []byte `json:"data,omitempty"`
	Close bool   `json:"close,omitempty"`
}

// execUpgrader accepts the session's WebSocket. A browser's cross-site request is
// refused (an Origin naming another host); the CLI sends none, and authenticates with
// its bearer token as every request does.
var execUpgrader = websocket.Upgrader{ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}

// execFirstFrame is how long a client may take to send its first message.
const execFirstFrame = 30 * time.Second

// registerExec adds the route of exec sessions in an environment's instances.
func registerExec(v1 *echo.Group, auth echo.MiddlewareFunc, m Execs) {
	v1.GET("/orgs/:org/apps/:app/envs/:env/instances/:instance/exec", func(c echo.Context) error {
		return serveExec(c, m)
	}, auth, checkInstance)
}

// checkInstance answers 404 for a path whose names cannot exist; the instance is
// "process.index", which the model reads.
func checkInstance(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, name := range []string{"org", "app", "env"} {
			if v := c.Param(name); platform.CheckName(v) != "" {
				return platform.Errorf(platform.NotFound, "%s %q not found", name, v)
			}
		}
		return next(c)
	}
}

// serveExec runs one exec session: allowed and audited before the WebSocket is
// accepted (so a refusal is an ordinary problem+json answer), then bridged to the
// instance until the command exits or the client leaves.
func serveExec(c echo.Context, m Execs) error {
	req := c.Request()
	instance := c.Param("instance")
	if instance == "-" {
		instance = "" // the first web instance, or the first instance
	}
	x, err := m.OpenExec(req.Context(), principal(c), envRef(c), instance)
	if err != nil {
		return err
	}
	if !websocket.IsWebSocketUpgrade(req) {
		return platform.Errorf(platform.Invalid, "an exec session is a WebSocket: send Upgrade: websocket")
	}
	conn, err := execUpgrader.Upgrade(c.Response(), req, nil)
	if err != nil {
		return nil // the upgrader answered already
	}
	defer conn.Close()
	conn.SetReadLimit(1 << 20)

	var wmu sync.Mutex
	send := func(f ExecFrame) error {
		wmu.Lock()
		defer wmu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		return conn.WriteJSON(f)
	}
	fail := func(err error) error {
		p := problemFor(c, err)
		_ = send(ExecFrame{Error: &p})
		return nil
	}

	var first ExecFrame
	conn.SetReadDeadline(time.Now().Add(execFirstFrame))
	if err := conn.ReadJSON(&first); err != nil {
		return fail(platform.Errorf(platform.Invalid, "the session's first message must name its command (JSON): %v", err))
	}
	conn.SetReadDeadline(time.Time{})
	if err := platform.CheckExecCommand(first.Command).Err(); err != nil {
		return fail(err)
	}

	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	stdin, stdinW := io.Pipe()
	sizes := make(chan platform.TerminalSize, 4)
	if first.Size != nil {
		sizes <- *first.Size
	}
	go func() {
		// The client's messages, until it leaves (which ends the session).
		defer cancel()
		defer stdinW.Close()
		for {
			var f ExecFrame
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			if f.Size != nil {
				select {
				case sizes <- *f.Size:
				default: // a burst of resizes: the last ones matter, and more will come
				}
			}
			if f.Stdin != nil {
				if len(f.Stdin.Data) > 0 {
					if _, err := stdinW.Write(f.Stdin.Data); err != nil {
						return
					}
				}
				if f.Stdin.Close {
					stdinW.Close()
				}
			}
		}
	}()
	out := func(stderr bool) io.Writer {
		return writerFunc(func(b []byte) (int, error) {
			d := &ExecData{Data: append([]byte(nil), b...)}
			f := ExecFrame{Stdout: d}
			if stderr {
				f = ExecFrame{Stderr: d}
			}
			if err := send(f); err != nil {
				cancel()
				return 0, err
			}
			return len(b), nil
		})
	}
	code, err := m.Exec(ctx, x, platform.ExecSession{Command: first.Command, TTY: first.TTY, Stdin: stdin, Stdout: out(false), Stderr: out(true), Resize: sizes})
	if err != nil {
		if ctx.Err() != nil {
			return nil // the client left
		}
		return fail(err)
	}
	_ = send(ExecFrame{Exited: true, ExitCode: code})
	wmu.Lock()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	wmu.Unlock()
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
