// Package client reads and writes any Zipkin v2 HTTP API: obs's own server,
// a Zipkin cluster, or anything else that answers /api/v2.
package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/obs-toolkit/obs/tracing"
)

// DefaultServer is where obs trace serve listens by default.
const DefaultServer = "http://127.0.0.1:9411"

// Client talks to one Zipkin API base URL.
type Client struct {
	Base string
	HTTP *http.Client
}

// New returns a client for base (scheme and host, optionally a path).
func New(base string) (*Client, error) {
	if base == "" {
		base = DefaultServer
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad server URL %q", base)
	}
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 60 * time.Second}}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %v (is 'obs trace serve' running? see --server)", c.Base, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, &StatusError{Code: resp.StatusCode, Msg: fmt.Sprintf("%s %s: %s: %s", method, c.Base+path, resp.Status, strings.ReplaceAll(msg, "\n", " "))}
	}
	return b, nil
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	b, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: bad JSON answer: %v", path, err)
	}
	return nil
}

// Services lists service names.
func (c *Client) Services(ctx context.Context) ([]string, error) {
	var out []string
	return out, c.getJSON(ctx, "/api/v2/services", &out)
}

// SpanNames lists a service's span names.
func (c *Client) SpanNames(ctx context.Context, service string) ([]string, error) {
	var out []string
	return out, c.getJSON(ctx, "/api/v2/spans?serviceName="+url.QueryEscape(service), &out)
}

// QueryValues encodes q as /api/v2/traces parameters.
func QueryValues(q tracing.Query) url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	num := func(k string, n int64) {
		if n > 0 {
			v.Set(k, strconv.FormatInt(n, 10))
		}
	}
	set("serviceName", q.ServiceName)
	set("remoteServiceName", q.RemoteServiceName)
	set("spanName", q.SpanName)
	if len(q.AnnotationQuery) > 0 {
		v.Set("annotationQuery", tracing.FormatAnnotationQuery(q.AnnotationQuery))
	}
	num("minDuration", q.MinDuration)
	num("maxDuration", q.MaxDuration)
	num("endTs", q.EndTs)
	num("lookback", q.Lookback)
	num("limit", int64(q.Limit))
	return v
}

// Traces runs a /api/v2/traces query.
func (c *Client) Traces(ctx context.Context, q tracing.Query) ([][]tracing.Span, error) {
	b, err := c.do(ctx, http.MethodGet, "/api/v2/traces?"+QueryValues(q).Encode(), nil, nil)
	if err != nil {
		return nil, err
	}
	t, err := tracing.DecodeJSONV2Traces(b)
	if err != nil {
		return nil, fmt.Errorf("GET /api/v2/traces: %v", err)
	}
	return t, nil
}

// Trace fetches one trace by id.
func (c *Client) Trace(ctx context.Context, id string) ([]tracing.Span, error) {
	tid, err := tracing.ParseTraceID(strings.TrimSpace(id))
	if err != nil {
		return nil, fmt.Errorf("bad trace id %q: %s", id, strings.TrimPrefix(err.Error(), "invalid span: "))
	}
	b, err := c.do(ctx, http.MethodGet, "/api/v2/trace/"+tid.String(), nil, nil)
	if err != nil {
		if se, ok := err.(*StatusError); ok && se.Code == http.StatusNotFound {
			return nil, fmt.Errorf("trace %s not found on %s", tid, c.Base)
		}
		return nil, err
	}
	spans, err := tracing.DecodeJSONV2(b)
	if err != nil {
		return nil, fmt.Errorf("GET /api/v2/trace/%s: %v", tid, err)
	}
	return spans, nil
}

// Dependencies fetches the service graph for [endTs-lookback, endTs] (ms).
func (c *Client) Dependencies(ctx context.Context, endTs, lookback int64) ([]tracing.DependencyLink, error) {
	var out []tracing.DependencyLink
	return out, c.getJSON(ctx, fmt.Sprintf("/api/v2/dependencies?endTs=%d&lookback=%d", endTs, lookback), &out)
}

// Post sends spans as gzipped JSON v2 to /api/v2/spans.
func (c *Client) Post(ctx context.Context, spans []tracing.Span) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(tracing.EncodeJSONV2(spans))
	zw.Close()
	_, err := c.do(ctx, http.MethodPost, "/api/v2/spans", buf.Bytes(), map[string]string{
		"Content-Type": "application/json", "Content-Encoding": "gzip"})
	return err
}
