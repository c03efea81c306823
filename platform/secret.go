package platform

import "log/slog"

// Secret is a credential or a secret value. It prints, formats and logs as a redaction;
// only Reveal gives the value, at the one place it is handed to its consumer.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String redacts the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the value in %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the value in log/slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the value in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
