package platform

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError says what is wrong with one field of a request. Field is the JSON path of
// the field ("processes.web.instances"); Message is a sentence fragment safe to show.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors collects the field errors of one request. Its Err method turns them into
// one *Error of code Invalid whose cause is the list, so the HTTP edge can show every
// field's message.
type FieldErrors []FieldError

// Error lists every field error.
func (fe FieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, f := range fe {
		parts[i] = f.Field + " " + f.Message
	}
	return strings.Join(parts, "; ")
}

// Add records that field is invalid.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Check records message against field when message is not empty. It reads well with the
// Check* functions, which return "" for a valid value.
func (fe *FieldErrors) Check(field, message string) {
	if message != "" {
		fe.Add(field, "%s", message)
	}
}

// Err returns nil when no field is invalid, and otherwise an *Error of code Invalid
// carrying the list.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Message: "invalid request: " + fe.Error(), Err: fe}
}

// MaxNameLength is the longest DNS label.
const MaxNameLength = 63

// CheckName reports why s is not a DNS label (RFC 1123: 1 to 63 lowercase letters, digits
// and hyphens, neither first nor last a hyphen), or "" when it is one. Organisations,
// applications, environments, people, cloudspaces and plans are named by DNS labels, so a
// name can become part of a host name, a Nomad job or a Vault path unchanged.
func CheckName(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > MaxNameLength:
		return fmt.Sprintf("must be at most %d characters", MaxNameLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "must contain only lowercase letters, digits and hyphens"
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return "must not start or end with a hyphen"
	}
	return ""
}

// MaxVariableNameLength is the longest environment variable name.
const MaxVariableNameLength = 128

// CheckVariableName reports why s is not a portable environment variable name (a letter
// or underscore, then letters, digits and underscores), or "" when it is one.
func CheckVariableName(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > MaxVariableNameLength:
		return fmt.Sprintf("must be at most %d characters", MaxVariableNameLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && !(i > 0 && c >= '0' && c <= '9') {
			return "must start with a letter or underscore and contain only letters, digits and underscores"
		}
	}
	return ""
}

// CheckText reports why s is not short printable text of at most max characters (a
// display name, a location), or "" when it is. Empty text is allowed.
func CheckText(s string, max int) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("must be at most %d characters", max)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "must contain only printable characters"
		}
	}
	return ""
}

// CheckHostname reports why s is not a DNS host name (dot-separated DNS labels, at most
// 253 characters), or "" when it is one.
func CheckHostname(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > 253 {
		return "must be at most 253 characters"
	}
	for _, label := range strings.Split(s, ".") {
		if msg := CheckName(label); msg != "" {
			return "must be a host name of dot-separated DNS labels: a label " + msg
		}
	}
	return ""
}

// CheckHostPort reports why s is not host[:port] with a DNS host name or an IPv4
// address and a decimal port, or "" when it is.
func CheckHostPort(s string) string {
	host, port, hasPort := strings.Cut(s, ":")
	if hasPort {
		if port == "" || len(port) > 5 {
			return "must be host or host:port with a port from 1 to 65535"
		}
		n := 0
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return "must be host or host:port with a port from 1 to 65535"
			}
			n = n*10 + int(port[i]-'0')
		}
		if n < 1 || n > 65535 {
			return "must be host or host:port with a port from 1 to 65535"
		}
	}
	if msg := CheckHostname(host); msg != "" {
		return msg
	}
	return ""
}
