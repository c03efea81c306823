package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// table is what a read command shows a person: a header and rows of cells.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// writeTable writes t aligned in columns, its header in capitals; an empty table says
// so in a line of its own.
func writeTable(w io.Writer, t table, empty string) error {
	if len(t.rows) == 0 && empty != "" {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(cells []string) {
		for i, s := range cells {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			if s == "" {
				s = "-"
			}
			io.WriteString(tw, strings.ReplaceAll(s, "\t", " "))
		}
		io.WriteString(tw, "\n")
	}
	if len(t.header) > 0 {
		h := make([]string, len(t.header))
		for i, s := range t.header {
			h[i] = strings.ToUpper(s)
		}
		line(h)
	}
	for _, r := range t.rows {
		line(r)
	}
	return tw.Flush()
}

// writeJSON writes the API's answer as it came, indented.
func writeJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// jsonArray joins list items into one JSON array.
func jsonArray(items []json.RawMessage) json.RawMessage {
	if len(items) == 0 {
		return json.RawMessage("[]")
	}
	b, _ := json.Marshal(items)
	return b
}

// decodeAll decodes each list item into a T.
func decodeAll[T any](items []json.RawMessage) ([]T, error) {
	out := make([]T, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			return nil, fmt.Errorf("unexpected answer: %v", err)
		}
	}
	return out, nil
}

// show prints raw as JSON with --output json, else the table made from it.
func (c *cli) show(raw json.RawMessage, t func() (table, string, error)) error {
	if c.output == "json" {
		return writeJSON(c.stdout, raw)
	}
	tab, empty, err := t()
	if err != nil {
		return err
	}
	return writeTable(c.stdout, tab, empty)
}

// ago says how long ago t was, as people read it in a table.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.UTC().Format(time.DateTime)
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.UTC().Format(time.DateOnly)
}

// The API's resources, as much of them as the CLI shows.
type (
	org struct {
		Name        string    `json:"name"`
		DisplayName string    `json:"display_name"`
		CreatedAt   time.Time `json:"created_at"`
	}
	cloudspace struct {
		Name          string `json:"name"`
		Vendor        string `json:"vendor"`
		Location      string `json:"location"`
		Tenancy       string `json:"tenancy"`
		Region        string `json:"region"`
		IngressDomain string `json:"ingress_domain"`
	}
	application struct {
		Org          string    `json:"org"`
		Name         string    `json:"name"`
		Cloudspace   string    `json:"cloudspace"`
		Plan         string    `json:"plan"`
		Environments []string  `json:"environments"`
		CreatedAt    time.Time `json:"created_at"`
	}
	processScale struct {
		Instances int `json:"instances"`
		MemoryMB  int `json:"memory_mb"`
	}
	environment struct {
		Name      string                  `json:"name"`
		Processes map[string]processScale `json:"processes"`
		Services  []struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
		} `json:"services"`
		CreatedAt time.Time `json:"created_at"`
	}
	variable struct {
		Name      string    `json:"name"`
		Secret    bool      `json:"secret"`
		Value     *string   `json:"value"`
		Version   int       `json:"version"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	release struct {
		Number     int       `json:"number"`
		Image      string    `json:"image"`
		GitCommit  string    `json:"git_commit"`
		RollbackOf int       `json:"rollback_of"`
		CreatedBy  string    `json:"created_by"`
		CreatedAt  time.Time `json:"created_at"`
	}
	deployEvent struct {
		At      time.Time `json:"at"`
		Phase   string    `json:"phase"`
		Message string    `json:"message"`
	}
	deploy struct {
		ID      string        `json:"id"`
		Kind    string        `json:"kind"`
		Image   string        `json:"image"`
		Build   string        `json:"build"`
		Release int           `json:"release"`
		Status  string        `json:"status"`
		Phase   string        `json:"phase"`
		Error   string        `json:"error"`
		Events  []deployEvent `json:"events"`
	}
	instance struct {
		ID          string     `json:"id"`
		Process     string     `json:"process"`
		Index       int        `json:"index"`
		Status      string     `json:"status"`
		Healthy     *bool      `json:"healthy"`
		Version     uint64     `json:"job_version"`
		Restarts    int        `json:"restarts"`
		OOMKills    int        `json:"oom_kills"`
		LastOOMKill *time.Time `json:"last_oom_kill"`
	}
	envStatus struct {
		Release   int        `json:"release"`
		Stopped   bool       `json:"stopped"`
		Deploying string     `json:"deploying"`
		Instances []instance `json:"instances"`
		URL       string     `json:"url"`
	}
	logLine struct {
		Process  string `json:"process"`
		Instance string `json:"instance"`
		Stream   string `json:"stream"`
		Line     string `json:"line"`
	}
	processDef struct {
		Command    string `json:"command"`
		HealthPath string `json:"health_path,omitempty"`
	}
	cronEntry struct {
		Name     string `json:"name"`
		Schedule string `json:"schedule"`
		Command  string `json:"command"`
	}
	procfile struct {
		Processes      map[string]processDef `json:"processes"`
		ReleaseCommand string                `json:"release_command,omitempty"`
		Cron           []cronEntry           `json:"cron"`
	}
)
