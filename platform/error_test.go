package platform_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wharf-platform/wharf/platform"
)

func TestErrorCode(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		name    string
		err     error
		code    platform.Code
		message string
	}{
		{"nil", nil, "", "an internal error occurred"},
		{"plain error", cause, platform.Internal, "an internal error occurred"},
		{"typed", platform.Errorf(platform.NotFound, "app %q not found", "web"), platform.NotFound, `app "web" not found`},
		{"wrapped typed", fmt.Errorf("ctx: %w", platform.Wrap(platform.Unavailable, cause, "consul unreachable")), platform.Unavailable, "consul unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := platform.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := platform.ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
		})
	}
	if !errors.Is(platform.Wrap(platform.Unavailable, cause, "x"), cause) {
		t.Error("Wrap does not keep its cause in the chain")
	}
}
