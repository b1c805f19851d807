package graphpublish

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/generator/intunewin"
)

// Package is what Graph's upload takes: the encrypted file
// (IntunePackage.intunewin), the size of the plain content, and the
// fileEncryptionInfo for the commit.
type Package struct {
	Encrypted      []byte
	Size           int64
	EncryptionInfo json.RawMessage
}

// ReadPackage takes the encrypted file and the plain size out of an
// .intunewin (the outer zip) and pairs them with avd-agent.encryption.json.
func ReadPackage(intunewinZip, encryptionInfo []byte) (Package, error) {
	zr, err := zip.NewReader(bytes.NewReader(intunewinZip), int64(len(intunewinZip)))
	if err != nil {
		return Package{}, fmt.Errorf(".intunewin is not a zip: %w", err)
	}
	read := func(name string) ([]byte, error) {
		for _, f := range zr.File {
			if f.Name == name {
				r, err := f.Open()
				if err != nil {
					return nil, err
				}
				defer r.Close()
				return io.ReadAll(r)
			}
		}
		return nil, fmt.Errorf(".intunewin has no %s", name)
	}
	enc, err := read(intunewin.ContentPath)
	if err != nil {
		return Package{}, err
	}
	det, err := read(intunewin.DetectionPath)
	if err != nil {
		return Package{}, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(det); err != nil {
		return Package{}, fmt.Errorf("Detection.xml: %w", err)
	}
	el := doc.FindElement("//UnencryptedContentSize")
	if el == nil {
		return Package{}, errors.New("Detection.xml has no UnencryptedContentSize")
	}
	size, err := strconv.ParseInt(strings.TrimSpace(el.Text()), 10, 64)
	if err != nil || size <= 0 {
		return Package{}, fmt.Errorf("Detection.xml UnencryptedContentSize %q is not a size", el.Text())
	}
	var info intunewin.EncryptionInfo
	if err := json.Unmarshal(encryptionInfo, &info); err != nil || info.EncryptionKey == "" || info.Mac == "" {
		return Package{}, fmt.Errorf("avd-agent.encryption.json is not a fileEncryptionInfo: %v", err)
	}
	if mac := base64.StdEncoding.EncodeToString(enc[:min(32, len(enc))]); mac != info.Mac {
		return Package{}, errors.New("avd-agent.encryption.json does not belong to this avd-agent.intunewin (the MACs differ): use the files of one bundle")
	}
	return Package{Encrypted: enc, Size: size, EncryptionInfo: encryptionInfo}, nil
}

// contentFile is Graph's mobileAppContentFile as far as the upload needs it.
type contentFile struct {
	ID                                string `json:"id"`
	UploadState                       string `json:"uploadState"`
	AzureStorageURI                   string `json:"azureStorageUri"`
	AzureStorageURIExpirationDateTime string `json:"azureStorageUriExpirationDateTime"`
}

func (f contentFile) expires() time.Time {
	t, _ := time.Parse(time.RFC3339, f.AzureStorageURIExpirationDateTime)
	return t
}

// upload makes a content version, uploads the package into it, commits it
// and returns the version id.
func (p *publisher) upload(ctx context.Context, appID string) (string, error) {
	pkg := p.in.Package
	lob := appsPath + "/" + url.PathEscape(appID) + "/microsoft.graph.win32LobApp"
	var cv struct{ ID string }
	if err := p.c.do(ctx, http.MethodPost, lob+"/contentVersions", map[string]any{}, &cv); err != nil {
		return "", fmt.Errorf("creating a content version: %w", err)
	}
	filesPath := lob + "/contentVersions/" + url.PathEscape(cv.ID) + "/files"
	var f contentFile
	body := map[string]any{"@odata.type": "#microsoft.graph.mobileAppContentFile", "name": "IntunePackage.intunewin",
		"size": pkg.Size, "sizeEncrypted": int64(len(pkg.Encrypted)), "isDependency": false}
	if err := p.c.do(ctx, http.MethodPost, filesPath, body, &f); err != nil {
		return "", fmt.Errorf("creating the content file: %w", err)
	}
	filePath := filesPath + "/" + url.PathEscape(f.ID)
	f, err := p.waitState(ctx, filePath, "azureStorageUriRequest")
	if err != nil {
		return "", err
	}
	if err := p.putBlob(ctx, filePath, f); err != nil {
		return "", err
	}
	if err := p.c.do(ctx, http.MethodPost, filePath+"/commit", map[string]any{"fileEncryptionInfo": pkg.EncryptionInfo}, nil); err != nil {
		return "", fmt.Errorf("committing the content file: %w", err)
	}
	if _, err := p.waitState(ctx, filePath, "commitFile"); err != nil {
		return "", err
	}
	return cv.ID, nil
}

// waitState polls the content file until uploadState is <stage>Success,
// with backoff (1s, 2s, 4s, then 10s) and at most PollLimit polls.
func (p *publisher) waitState(ctx context.Context, filePath, stage string) (contentFile, error) {
	delay := time.Second
	for i := 0; i < p.cfg.PollLimit; i++ {
		var f contentFile
		if err := p.c.do(ctx, http.MethodGet, filePath, nil, &f); err != nil {
			return f, err
		}
		switch f.UploadState {
		case stage + "Success":
			return f, nil
		case stage + "Pending":
		case "commitFileFailed":
			return f, errors.New("Intune could not commit the uploaded package (uploadState commitFileFailed): the upload or its encryption info is damaged; rerun avdgen intune publish to upload it again")
		default:
			return f, fmt.Errorf("Intune reports uploadState %q while waiting for %sSuccess; rerun avdgen intune publish", f.UploadState, stage)
		}
		if err := p.cfg.Sleep(ctx, delay); err != nil {
			return f, err
		}
		delay = min(delay*2, 10*time.Second)
	}
	return contentFile{}, fmt.Errorf("Intune did not reach %sSuccess after %d polls; rerun avdgen intune publish later", stage, p.cfg.PollLimit)
}

// checkStorageURI allows only https on the cloud's blob host, or loopback
// when Graph itself is a loopback fake.
func (p *publisher) checkStorageURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("Intune gave an upload URL that is not a URL (%.60q)", raw)
	}
	if azure.IsLoopbackURL(p.base) && azure.IsLoopbackHost(u.Host) {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme != "https" || !strings.HasSuffix(host, "."+p.cfg.Cloud.BlobHostSuffix) {
		return fmt.Errorf("Intune gave an upload URL on %s://%s, not https on *.%s of the %s cloud; refusing to upload there", u.Scheme, u.Host, p.cfg.Cloud.BlobHostSuffix, p.cfg.Cloud.Name)
	}
	return nil
}

// putBlob uploads the encrypted package as a block blob, block by block,
// renewing the SAS URL when it is about to expire or storage refuses it.
func (p *publisher) putBlob(ctx context.Context, filePath string, f contentFile) error {
	data := p.in.Package.Encrypted
	var ids []string
	var bb *blockblob.Client
	open := func() error {
		if err := p.checkStorageURI(f.AzureStorageURI); err != nil {
			return err
		}
		var err error
		bb, err = blockblob.NewClientWithNoCredential(f.AzureStorageURI, &blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: p.cfg.HTTPClient, Retry: p.cfg.BlobRetry, Telemetry: policyTelemetry}})
		return err
	}
	if err := open(); err != nil {
		return err
	}
	renewals := 0
	renew := func(why string) error {
		if renewals++; renewals > 3 {
			return fmt.Errorf("the upload URL expired again after %d renewals (%s); rerun avdgen intune publish", renewals-1, why)
		}
		if err := p.c.do(ctx, http.MethodPost, filePath+"/renewUpload", map[string]any{}, nil); err != nil {
			return fmt.Errorf("renewing the expired upload URL: %w", err)
		}
		var err error
		if f, err = p.waitState(ctx, filePath, "azureStorageUriRenewal"); err != nil {
			return fmt.Errorf("the upload URL expired (%s) and Intune could not renew it: %w", why, err)
		}
		return open()
	}
	total := len(data)
	for off, n := 0, 0; off < total; off, n = off+p.cfg.BlockSize, n+1 {
		chunk := data[off:min(off+p.cfg.BlockSize, total)]
		var raw [8]byte
		binary.BigEndian.PutUint64(raw[:], uint64(n))
		id := base64.StdEncoding.EncodeToString(append([]byte("avdgen-block-"), raw[:]...))
		for attempt := 0; ; attempt++ {
			if exp := f.expires(); !exp.IsZero() && p.cfg.Now().Add(time.Minute).After(exp) {
				if err := renew("it expires at " + exp.UTC().Format(time.RFC3339)); err != nil {
					return err
				}
			}
			p.blobs++
			_, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(chunk)), nil)
			if err == nil {
				break
			}
			if isAuthFailure(err) && attempt == 0 {
				if err := renew("storage refused it"); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("uploading block %d of the package: %w", n+1, err)
		}
		ids = append(ids, id)
		p.progress(off+len(chunk), total)
	}
	for attempt := 0; ; attempt++ {
		p.blobs++
		_, err := bb.CommitBlockList(ctx, ids, nil)
		if err == nil {
			return nil
		}
		if isAuthFailure(err) && attempt == 0 {
			if err := renew("storage refused it"); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("finishing the package upload (Put Block List): %w", err)
	}
}

var policyTelemetry = policy.TelemetryOptions{ApplicationID: "avdgen"}

func isAuthFailure(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// progress draws a bar on a terminal, plain lines otherwise.
func (p *publisher) progress(done, total int) {
	mib := func(n int) float64 { return float64(n) / (1 << 20) }
	pct := done * 100 / total
	if p.cfg.Terminal {
		bar := strings.Repeat("#", pct/5) + strings.Repeat(".", 20-pct/5)
		fmt.Fprintf(p.cfg.Progress, "\rupload [%s] %3d%% %.1f/%.1f MiB", bar, pct, mib(done), mib(total))
		if done == total {
			fmt.Fprintln(p.cfg.Progress)
		}
		return
	}
	fmt.Fprintf(p.cfg.Progress, "upload: %.1f of %.1f MiB (%d%%)\n", mib(done), mib(total), pct)
}

// dropUncommitted deletes the content versions an interrupted or failed
// upload left behind: those newer than the committed one (all of them when
// nothing was committed). Intune keeps each as an orphan otherwise, one more
// on every failed run. Older versions are the app's history and stay.
func (p *publisher) dropUncommitted(ctx context.Context, appID string, have map[string]any) error {
	committed, _ := have["committedContentVersion"].(string)
	floor, _ := strconv.Atoi(committed)
	lob := appsPath + "/" + url.PathEscape(appID) + "/microsoft.graph.win32LobApp/contentVersions"
	versions, err := list[struct{ ID string }](ctx, p.c, lob)
	if err != nil {
		return fmt.Errorf("listing the app's content versions: %w", err)
	}
	dropped := 0
	for _, v := range versions {
		n, err := strconv.Atoi(v.ID)
		if err != nil || n <= floor || v.ID == committed {
			continue
		}
		if err := p.c.do(ctx, http.MethodDelete, lob+"/"+url.PathEscape(v.ID), nil, nil); err != nil {
			return fmt.Errorf("removing content version %s left by an interrupted upload: %w", v.ID, err)
		}
		dropped++
	}
	if dropped > 0 {
		p.rep.Content.Detail = strings.TrimPrefix(p.rep.Content.Detail+fmt.Sprintf("; removed %d uncommitted content version(s) of an interrupted upload", dropped), "; ")
	}
	return nil
}
