// Command dbapp is the test application of e2e/services_test.go: it serves on $PORT and
// reports, at /report, its secret variable and what its database credentials let it do
// (connecting with DEFAULT_DATABASE_DSN anew for each request); /dsn hands the test its
// DSN, so the test can try it elsewhere.
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

type report struct {
	Secret          string `json:"secret"`
	HasDSN          bool   `json:"has_dsn"`
	DatabaseURLSame bool   `json:"database_url_same"`
	CurrentUser     string `json:"current_user,omitempty"`
	SessionUser     string `json:"session_user,omitempty"`
	Database        string `json:"database,omitempty"`
	Visits          int    `json:"visits,omitempty"`
	Error           string `json:"error,omitempty"`
}

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	http.HandleFunc("/dsn", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(os.Getenv("DEFAULT_DATABASE_DSN"))) })
	http.HandleFunc("/report", func(w http.ResponseWriter, r *http.Request) {
		dsn := os.Getenv("DEFAULT_DATABASE_DSN")
		rep := report{Secret: os.Getenv("APP_SECRET"), HasDSN: dsn != "", DatabaseURLSame: dsn != "" && os.Getenv("DATABASE_URL") == dsn}
		if dsn != "" {
			if err := visit(r.Context(), dsn, &rep); err != nil {
				rep.Error = err.Error()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}

func visit(ctx context.Context, dsn string, rep *report) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS visits (at timestamptz DEFAULT now())"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "INSERT INTO visits DEFAULT VALUES"); err != nil {
		return err
	}
	return conn.QueryRow(ctx, "SELECT current_user, session_user, current_database(), (SELECT count(*) FROM visits)").
		Scan(&rep.CurrentUser, &rep.SessionUser, &rep.Database, &rep.Visits)
}
