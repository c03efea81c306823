// Command s3app is the test application of e2e/storage_test.go: it serves on $PORT and
// uses its storage instance with a real S3 client (aws-sdk-go-v2), configured from
// DEFAULT_STORAGE_DSN alone (Divio's form, s3://KEY:SECRET@BUCKET.HOST/?...), and
// reports whether the AWS_* and S3_* variables say the same.
//
//	GET  /report               what it was given (never a key)
//	PUT  /objects/KEY          writes the body to KEY of its bucket
//	GET  /objects/KEY          reads KEY of its bucket
//	GET  /list                 lists its bucket's keys
//	GET  /try?bucket=B&key=K   tries another bucket with its own keys: list, read,
//	                           write, delete; answers what each gave
//	GET  /dsn                  its DSN, so the test can look for the keys elsewhere
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// store is what the DSN says.
type store struct {
	key, secret, bucket, endpoint, region, publicURL string
}

func parseDSN(dsn string) (store, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "s3" || u.User == nil {
		return store{}, errors.New("not an s3:// DSN with keys")
	}
	secret, _ := u.User.Password()
	bucket, host, ok := strings.Cut(u.Host, ".")
	if !ok {
		return store{}, errors.New("the DSN's host is not BUCKET.HOST")
	}
	q := u.Query()
	scheme := q.Get("scheme")
	if scheme == "" {
		scheme = "https"
	}
	return store{key: u.User.Username(), secret: secret, bucket: bucket, endpoint: scheme + "://" + host,
		region: q.Get("region"), publicURL: q.Get("public_url")}, nil
}

func (s store) client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.endpoint), Region: s.region, UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret}, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

type report struct {
	HasDSN    bool   `json:"has_dsn"`
	Bucket    string `json:"bucket,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	PublicURL string `json:"public_url,omitempty"`
	// EnvSame says AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
	// AWS_ENDPOINT_URL_S3, S3_BUCKET, S3_ENDPOINT and S3_PUBLIC_URL agree with the DSN.
	EnvSame bool   `json:"env_same"`
	Error   string `json:"error,omitempty"`
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func main() {
	get := func() (store, error) { return parseDSN(os.Getenv("DEFAULT_STORAGE_DSN")) }
	fail := func(w http.ResponseWriter, status int, err error) { http.Error(w, code(err), status) }
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	http.HandleFunc("/dsn", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(os.Getenv("DEFAULT_STORAGE_DSN"))) })
	http.HandleFunc("/report", func(w http.ResponseWriter, r *http.Request) {
		rep := report{HasDSN: os.Getenv("DEFAULT_STORAGE_DSN") != ""}
		if s, err := get(); err == nil {
			rep.Bucket, rep.Endpoint, rep.PublicURL = s.bucket, s.endpoint, s.publicURL
			rep.EnvSame = os.Getenv("AWS_ACCESS_KEY_ID") == s.key && os.Getenv("AWS_SECRET_ACCESS_KEY") == s.secret &&
				os.Getenv("AWS_REGION") == s.region && os.Getenv("AWS_ENDPOINT_URL_S3") == s.endpoint &&
				os.Getenv("S3_BUCKET") == s.bucket && os.Getenv("S3_ENDPOINT") == s.endpoint && os.Getenv("S3_PUBLIC_URL") == s.publicURL
		} else if rep.HasDSN {
			rep.Error = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
	http.HandleFunc("/objects/", func(w http.ResponseWriter, r *http.Request) {
		s, err := get()
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		key := strings.TrimPrefix(r.URL.Path, "/objects/")
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		switch r.Method {
		case http.MethodPut:
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if _, err := s.client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
				Body: strings.NewReader(string(body)), ContentType: aws.String("text/plain")}); err != nil {
				fail(w, http.StatusBadGateway, err)
				return
			}
			w.WriteHeader(http.StatusCreated)
		default:
			out, err := s.client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
			if err != nil {
				fail(w, http.StatusBadGateway, err)
				return
			}
			defer out.Body.Close()
			io.Copy(w, out.Body)
		}
	})
	http.HandleFunc("/list", func(w http.ResponseWriter, r *http.Request) {
		s, err := get()
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		out, err := s.client().ListObjectsV2(r.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket)})
		if err != nil {
			fail(w, http.StatusBadGateway, err)
			return
		}
		keys := []string{}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		json.NewEncoder(w).Encode(keys)
	})
	http.HandleFunc("/try", func(w http.ResponseWriter, r *http.Request) {
		s, err := get()
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		c, bucket, key := s.client(), aws.String(r.URL.Query().Get("bucket")), aws.String(r.URL.Query().Get("key"))
		ctx := r.Context()
		res := map[string]string{}
		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket})
		res["list"] = code(err)
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
		if err == nil {
			out.Body.Close()
		}
		res["get"] = code(err)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("intruder.txt"), Body: strings.NewReader("intruder")})
		res["put"] = code(err)
		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key})
		res["delete"] = code(err)
		json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
