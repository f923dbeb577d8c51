package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// retrier tries a request again on transient errors. The SDK's own retries
// are off: they cannot put a deadline on each try, nor try again when a
// body breaks off after the response began.
type retrier struct {
	attempts  int
	timeout   time.Duration
	backoff   *retry.ExponentialJitterBackoff
	transient retry.IsErrorRetryables
}

func newRetrier(o Options) retrier {
	return retrier{
		attempts:  o.Attempts,
		timeout:   o.Timeout,
		backoff:   retry.NewExponentialJitterBackoff(o.MaxBackoff),
		transient: append(retry.IsErrorRetryables{retryableBody{}}, retry.DefaultRetryables...),
	}
}

// bodyError is a failure while reading a response body: the connection
// broke off or stalled, which another try may not meet.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading the response: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

type retryableBody struct{}

func (retryableBody) IsErrorRetryable(err error) aws.Ternary {
	var b *bodyError
	if errors.As(err, &b) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// withTimeout is r with another deadline for each try.
func (r retrier) withTimeout(d time.Duration) retrier {
	r.timeout = d
	return r
}

// do runs fn until it succeeds, fails for good, or the tries run out; each
// try gets its own deadline. The error names op and says why.
func (r retrier) do(ctx context.Context, op string, fn func(context.Context) error) error {
	for try := 1; ; try++ {
		tctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := fn(tctx)
		timedOut := tctx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return &Error{Op: op, Tries: try, Err: ctx.Err()}
		case timedOut:
			err = fmt.Errorf("no answer within %v: %w", r.timeout, err)
		case r.transient.IsErrorRetryable(err) != aws.TrueTernary:
			return newError(op, try, err)
		}
		if try >= r.attempts {
			return newError(op, try, err)
		}
		delay, _ := r.backoff.BackoffDelay(try, err)
		select {
		case <-ctx.Done():
			return &Error{Op: op, Tries: try, Err: ctx.Err()}
		case <-time.After(delay):
		}
	}
}

// Error is a failed request to an S3 service.
type Error struct {
	Op     string // "s3 get mybucket/chunks/0/0/1_0_4096"
	Code   string // the service's error code, e.g. "SlowDown"
	Status int    // HTTP status, 0 when no response came
	Tries  int
	Err    error
}

func newError(op string, tries int, err error) *Error {
	e := &Error{Op: op, Tries: tries, Err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code = apiErr.ErrorCode()
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		e.Status = status.HTTPStatusCode()
	}
	return e
}

// Codes meaning the object is not there: HEAD answers a bare 404.
var notFoundCodes = []string{"NoSuchKey", "NotFound"}

// Codes meaning the keys are wrong or lack a permission.
var deniedCodes = []string{"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "Forbidden", "InvalidClientTokenId",
	"XAdminUserNotFound", // versitygw
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Tries > 1 {
		fmt.Fprintf(&b, "giving up after %d tries: ", e.Tries)
	}
	var apiErr smithy.APIError
	switch {
	case errors.As(e.Err, &apiErr):
		b.WriteString(apiErr.ErrorCode())
		if msg := apiErr.ErrorMessage(); msg != "" {
			b.WriteString(": " + msg)
		}
	default:
		b.WriteString(e.Err.Error())
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	switch {
	case e.Code == "NoSuchBucket":
		b.WriteString("; create the bucket, or check the bucket URL")
	case oneOf(e.Code, deniedCodes...) || e.Status == 403:
		b.WriteString("; check the access key and secret key of the volume (rueidisfs config --access-key --secret-key) or the credentials in the environment")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes a missing object match fs.ErrNotExist, a missing bucket
// objstore.ErrNoBucket.
func (e *Error) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return oneOf(e.Code, notFoundCodes...)
	case objstore.ErrNoBucket:
		return e.Code == "NoSuchBucket"
	}
	return false
}

func oneOf(s string, set ...string) bool { return slices.Contains(set, s) }

// isCode tells whether err is an answer of the service with one of codes.
func isCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && oneOf(apiErr.ErrorCode(), codes...)
}
