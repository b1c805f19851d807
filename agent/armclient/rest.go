package armclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// URL joins the ARM base with a resource path (which starts with /) and query.
func (c *Client) URL(path, query string) string {
	u := c.base + path
	if query != "" {
		u += "?" + query
	}
	return u
}

// Do sends one request through the pipeline (bearer token, retries that
// honour Retry-After) and decodes a JSON answer into out when out is not
// nil. Statuses other than 2xx come back as *StatusError or, for 403,
// *AuthorizationError.
func (c *Client) Do(ctx context.Context, method, url string, body, out any) (int, error) {
	req, err := runtime.NewRequest(ctx, method, url)
	if err != nil {
		return 0, err
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(b)), "application/json"); err != nil {
			return 0, err
		}
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, shortURL(url), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		code, msg := armError(resp.Body)
		if resp.StatusCode == http.StatusForbidden {
			return resp.StatusCode, &AuthorizationError{ResourceID: shortURL(url), Action: method, Message: strings.TrimSpace(code + ": " + msg)}
		}
		return resp.StatusCode, &StatusError{StatusCode: resp.StatusCode, Code: code, Message: msg}
	}
	if out != nil {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return resp.StatusCode, err
		}
		if len(bytes.TrimSpace(b)) > 0 {
			if err := json.Unmarshal(b, out); err != nil {
				return resp.StatusCode, fmt.Errorf("decoding %s: %w", shortURL(url), err)
			}
		}
	}
	return resp.StatusCode, nil
}

// Pages follows nextLink, calling page with the raw "value" array of each page.
func (c *Client) Pages(ctx context.Context, url string, page func(json.RawMessage) error) error {
	for url != "" {
		var p struct {
			Value    json.RawMessage `json:"value"`
			NextLink string          `json:"nextLink"`
		}
		if _, err := c.Do(ctx, http.MethodGet, url, nil, &p); err != nil {
			return err
		}
		if err := page(p.Value); err != nil {
			return err
		}
		url = p.NextLink
	}
	return nil
}

func shortURL(u string) string {
	if i := strings.Index(u, "/subscriptions/"); i >= 0 {
		u = u[i:]
	}
	if i := strings.Index(u, "?"); i >= 0 {
		u = u[:i]
	}
	return u
}
