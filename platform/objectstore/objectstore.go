// Package objectstore adapts a cloudspace's S3-compatible object store to
// platform.ObjectStore: one bucket and one account per storage service instance, the
// account reaching that bucket only.
//
// The local cloudspace's store is Versity's S3 gateway (versitygw), whose accounts are
// made through its admin API (SigV4-signed PATCH requests beside the S3 API): an account
// of role "user" can reach only the buckets it owns (and none it could create), and the
// admin API creates a bucket with a given owner. Objects, policies and buckets go
// through the S3 API as the store's root account. Nothing here imports Wharf's other
// adapters; platform/ never imports this package.
package objectstore

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/wharf-platform/wharf/platform"
)

// Config says where the store is and how wharfd administers it.
type Config struct {
	// Endpoint is the S3 endpoint, a URL ("http://127.0.0.1:7070"), as wharfd and tasks
	// reach it.
	Endpoint string
	Region   string // "us-east-1" when empty
	// AccessKey and SecretKey are the store's root (admin) account.
	AccessKey string
	SecretKey platform.Secret
	// PublicURL is the base URL the store's public objects are served under (the store's
	// endpoint, or a CDN or proxy in front of it); Endpoint when empty. An object's public
	// URL is PublicURL/<bucket>/public/<key>.
	PublicURL string
	// HTTPClient is http.DefaultClient's transport with a timeout when nil.
	HTTPClient *http.Client
}

// Store is the object store.
type Store struct {
	cfg Config
	s3  *s3.Client
	hc  *http.Client
}

var _ platform.ObjectStore = (*Store)(nil)

// New returns the store's adapter. It does not contact the store.
func New(cfg Config) *Store {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.Endpoint
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Store{cfg: cfg, hc: hc, s3: Client(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey.Reveal(), hc)}
}

// Client returns an S3 client of the store for the given keys: path-style requests, as
// the store's buckets are not DNS names of their own here.
func Client(endpoint, region, accessKey, secretKey string, hc *http.Client) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       region,
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, nil
		}),
		HTTPClient: hc,
		// Checksums only when an operation requires them: not every S3 server knows the
		// newer algorithms.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           2,
	})
}

// Endpoint is the store's S3 endpoint.
func (s *Store) Endpoint() string { return s.cfg.Endpoint }

// Region is the region requests are signed for.
func (s *Store) Region() string { return s.cfg.Region }

// PublicURL is where the bucket's public objects are served: PublicURL/<bucket>/public/.
func (s *Store) PublicURL(bucket string) string {
	return s.cfg.PublicURL + "/" + bucket + "/" + platform.StoragePublicPrefix
}

// Names Wharf gives buckets and accounts (platform.StorageNames): they reach URLs and
// policies, so nothing else is accepted.
var (
	bucketPattern  = regexp.MustCompile(`^wharf-[0-9a-f]{16}$`)
	accountPattern = regexp.MustCompile(`^WHARF[0-9A-F]{16}$`)
)

func checkNames(bucket, accessKey string) error {
	if !bucketPattern.MatchString(bucket) || !accountPattern.MatchString(accessKey) {
		return platform.Errorf(platform.Invalid, "bucket %q or account %q is not Wharf's", bucket, accessKey)
	}
	return nil
}

// CreateBucket makes the account (role user: it reaches only buckets it owns and cannot
// create any), the bucket owned by it, and the bucket policy that lets anyone read, not
// list, the objects under public/. An account or bucket that exists is kept, its secret
// set to secretKey.
func (s *Store) CreateBucket(ctx context.Context, bucket, accessKey string, secretKey platform.Secret) error {
	if err := checkNames(bucket, accessKey); err != nil {
		return err
	}
	acct, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"Account"`
		Access  string
		Secret  string
		Role    string
	}{Access: accessKey, Secret: secretKey.Reveal(), Role: "user"})
	err := s.admin(ctx, "/create-user", nil, nil, acct)
	if code(err) == "XAdminUserExists" {
		props, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"MutableProps"`
			Secret  string
			Role    string
		}{Secret: secretKey.Reveal(), Role: "user"})
		err = s.admin(ctx, "/update-user", map[string]string{"access": accessKey}, nil, props)
	}
	if err != nil {
		return translate(err, "create the bucket's account")
	}
	err = s.admin(ctx, "/"+bucket+"/create", nil, map[string]string{"x-vgw-owner": accessKey}, nil)
	if c := code(err); c == "BucketAlreadyOwnedByYou" || c == "BucketAlreadyExists" {
		err = s.admin(ctx, "/change-bucket-owner", map[string]string{"bucket": bucket, "owner": accessKey}, nil, nil)
	}
	if err != nil {
		return translate(err, "create the bucket")
	}
	// Once a bucket has a policy, the gateway decides by the policy alone (not by ACLs or
	// ownership), so the policy names everything: the account may do anything with its
	// objects and nothing to the bucket's policy, ACLs or existence, which Wharf manages;
	// anyone may read the objects under public/.
	arn := "arn:aws:s3:::" + bucket
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid": "Owner", "Effect": "Allow", "Principal": map[string]any{"AWS": []string{accessKey}},
			"Action": []string{"s3:*"}, "Resource": []string{arn, arn + "/*"},
		}, {
			"Sid": "Managed", "Effect": "Deny", "Principal": map[string]any{"AWS": []string{accessKey}},
			"Action": []string{"s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketAcl", "s3:PutObjectAcl",
				"s3:DeleteBucket", "s3:PutBucketOwnershipControls", "s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration"},
			"Resource": []string{arn, arn + "/*"},
		}, {
			"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
			"Action":   []string{"s3:GetObject"},
			"Resource": []string{arn + "/" + platform.StoragePublicPrefix + "*"},
		}},
	})
	if _, err := s.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(policy))}); err != nil {
		return translate(err, "write the bucket's policy")
	}
	return nil
}

// DeleteBucket deletes every object and unfinished upload of the bucket, the bucket, and
// the account. What is already gone is skipped.
func (s *Store) DeleteBucket(ctx context.Context, bucket, accessKey string) error {
	if err := checkNames(bucket, accessKey); err != nil {
		return err
	}
	if err := s.empty(ctx, bucket); err != nil && code(err) != "NoSuchBucket" {
		return translate(err, "delete the bucket's objects")
	}
	if _, err := s.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil && code(err) != "NoSuchBucket" {
		return translate(err, "delete the bucket")
	}
	if err := s.admin(ctx, "/delete-user", map[string]string{"access": accessKey}, nil, nil); err != nil && code(err) != "XAdminUserNotFound" {
		return translate(err, "delete the bucket's account")
	}
	return nil
}

// empty deletes the bucket's objects and aborts its unfinished multipart uploads.
func (s *Store) empty(ctx context.Context, bucket string) error {
	ups := s3.NewListMultipartUploadsPaginator(s.s3, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	for ups.HasMorePages() {
		page, err := ups.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, u := range page.Uploads {
			if _, err := s.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId}); err != nil && code(err) != "NoSuchUpload" {
				return err
			}
		}
	}
	objs := s3.NewListObjectsV2Paginator(s.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for objs.HasMorePages() {
		page, err := objs.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil && code(err) != "NoSuchKey" {
				return err
			}
		}
	}
	return nil
}

// Name names the store in health reports.
func (s *Store) Name() string { return "objectstore" }

// Probe lists the buckets as the root account.
func (s *Store) Probe(ctx context.Context) (string, error) {
	if _, err := s.s3.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)}); err != nil {
		return "", translate(err, "list buckets")
	}
	return "serving", nil
}

// adminError is an error the admin API answered with.
type adminError struct {
	Status  int
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (e *adminError) Error() string {
	return fmt.Sprintf("object store admin API: %d %s: %s", e.Status, e.Code, e.Message)
}

// admin sends a SigV4-signed PATCH to the gateway's admin API as the root account.
func (s *Store) admin(ctx context.Context, path string, query, header map[string]string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, s.cfg.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	q := req.URL.Query()
	for k, v := range query {
		q.Set(k, v)
	}
	req.URL.RawQuery = q.Encode()
	for k, v := range header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: s.cfg.AccessKey, SecretAccessKey: s.cfg.SecretKey.Reveal()},
		req, hash, "s3", s.cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 300 {
		return nil
	}
	e := &adminError{Status: resp.StatusCode}
	_ = xml.Unmarshal(b, e)
	return e
}

// code is the S3 or admin API error code of err, or "".
func code(err error) string {
	var ae *adminError
	var se smithy.APIError
	switch {
	case errors.As(err, &ae):
		return ae.Code
	case errors.As(err, &se):
		return se.ErrorCode()
	}
	return ""
}

// translate gives err a platform code: unreachable is unavailable, a refusal internal
// (wharfd's own keys should reach everything).
func translate(err error, what string) error {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &oe), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return platform.Wrap(platform.Unavailable, err, "object store: "+what)
	case code(err) == "NoSuchBucket":
		return platform.Wrap(platform.NotFound, err, "object store: "+what)
	}
	return platform.Wrap(platform.Internal, err, "object store: "+what)
}

// ensureBackupBucket makes the store's bucket of backups, owned by the root account
// (no tenant's account reaches it), unless it exists.
func (s *Store) ensureBackupBucket(ctx context.Context) error {
	_, err := s.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(platform.StorageBackupBucket)})
	if c := code(err); err != nil && c != "BucketAlreadyOwnedByYou" && c != "BucketAlreadyExists" {
		return translate(err, "create the bucket of backups")
	}
	return nil
}

// ArchiveBucket writes every object of bucket (key, content, content type) into one tar
// archive, kept at key in the store's bucket of backups, and returns its digest
// ("sha256:<hex>") and size. The archive is spooled to a temporary file, so a bucket
// larger than memory can be archived.
func (s *Store) ArchiveBucket(ctx context.Context, bucket, key string) (string, int64, error) {
	if !bucketPattern.MatchString(bucket) {
		return "", 0, platform.Errorf(platform.Invalid, "bucket %q is not Wharf's", bucket)
	}
	if err := s.ensureBackupBucket(ctx); err != nil {
		return "", 0, err
	}
	f, err := os.CreateTemp("", "wharf-archive-*.tar")
	if err != nil {
		return "", 0, platform.Wrap(platform.Internal, err, "spool the archive")
	}
	defer os.Remove(f.Name())
	defer f.Close()
	sum := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, sum))
	objs := s3.NewListObjectsV2Paginator(s.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for objs.HasMorePages() {
		page, err := objs.NextPage(ctx)
		if err != nil {
			return "", 0, translate(err, "list the bucket")
		}
		for _, o := range page.Contents {
			out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				return "", 0, translate(err, "read an object")
			}
			hdr := &tar.Header{Name: aws.ToString(o.Key), Mode: 0o600, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified),
				Typeflag: tar.TypeReg, PAXRecords: map[string]string{paxContentType: aws.ToString(out.ContentType)}}
			err = tw.WriteHeader(hdr)
			if err == nil {
				_, err = io.Copy(tw, out.Body)
			}
			out.Body.Close()
			if err != nil {
				return "", 0, platform.Wrap(platform.Internal, err, "archive an object")
			}
		}
	}
	if err := tw.Close(); err != nil {
		return "", 0, platform.Wrap(platform.Internal, err, "archive the bucket")
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return "", 0, platform.Wrap(platform.Internal, err, "spool the archive")
	}
	if _, err := s.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(platform.StorageBackupBucket), Key: aws.String(key),
		Body: f, ContentLength: aws.Int64(size), ContentType: aws.String("application/x-tar")}); err != nil {
		return "", 0, translate(err, "keep the archive")
	}
	return "sha256:" + hex.EncodeToString(sum.Sum(nil)), size, nil
}

// paxContentType keeps an object's content type in its archive entry.
const paxContentType = "WHARF.content_type"

// RestoreArchive puts every object of the archive at key into bucket, replacing objects
// of the same keys and leaving the others.
func (s *Store) RestoreArchive(ctx context.Context, key, bucket string) error {
	if !bucketPattern.MatchString(bucket) {
		return platform.Errorf(platform.Invalid, "bucket %q is not Wharf's", bucket)
	}
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(platform.StorageBackupBucket), Key: aws.String(key)})
	if err != nil {
		return translate(err, "read the archive")
	}
	defer out.Body.Close()
	tr := tar.NewReader(out.Body)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return platform.Wrap(platform.Internal, err, "read the archive")
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// Each object is spooled, so the client can sign its content.
		f, err := os.CreateTemp("", "wharf-object-*")
		if err != nil {
			return platform.Wrap(platform.Internal, err, "spool an object")
		}
		_, err = io.Copy(f, tr)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err == nil {
			in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(hdr.Name), Body: f, ContentLength: aws.Int64(hdr.Size)}
			if ct := hdr.PAXRecords[paxContentType]; ct != "" {
				in.ContentType = aws.String(ct)
			}
			if _, perr := s.s3.PutObject(ctx, in); perr != nil {
				err = translate(perr, "restore an object")
			}
		}
		f.Close()
		os.Remove(f.Name())
		if err != nil {
			return err
		}
	}
}

// DeleteArchive deletes the archive at key. What is gone is skipped.
func (s *Store) DeleteArchive(ctx context.Context, key string) error {
	_, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(platform.StorageBackupBucket), Key: aws.String(key)})
	if err != nil && code(err) != "NoSuchKey" && code(err) != "NoSuchBucket" {
		return translate(err, "delete the archive")
	}
	return nil
}
