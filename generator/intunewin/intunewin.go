// Package intunewin builds a Win32 app content package (.intunewin) without
// Microsoft's Content Prep Tool, following Graph's fileEncryptionInfo rules:
// the source folder is zipped, encrypted with AES-256-CBC (PKCS7) and
// authenticated with HMAC-SHA256 over IV||ciphertext; the outer zip carries
// the encrypted file and Detection.xml with the keys.
package intunewin

import (
	"archive/zip"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/beevik/etree"
)

// ToolVersion is written into Detection.xml like the Content Prep Tool's.
const ToolVersion = "1.8.6.0"

// Entry paths inside the outer zip.
const (
	ContentPath   = "IntuneWinPackage/Contents/IntunePackage.intunewin"
	DetectionPath = "IntuneWinPackage/Metadata/Detection.xml"
)

// File is one file of the source folder.
type File struct {
	Name string
	Data []byte
}

// EncryptionInfo is Graph's fileEncryptionInfo (all values base64).
type EncryptionInfo struct {
	EncryptionKey        string `json:"encryptionKey"`
	MacKey               string `json:"macKey"`
	InitializationVector string `json:"initializationVector"`
	Mac                  string `json:"mac"`
	ProfileIdentifier    string `json:"profileIdentifier"`
	FileDigest           string `json:"fileDigest"`
	FileDigestAlgorithm  string `json:"fileDigestAlgorithm"`
}

// Package is the result.
type Package struct {
	// Intunewin is the outer zip to upload in the Intune portal.
	Intunewin []byte
	// Encrypted is IntunePackage.intunewin, the file uploaded via Graph.
	Encrypted []byte
	// UnencryptedSize is the size of the source zip.
	UnencryptedSize int
	Info            EncryptionInfo
	DetectionXML    []byte
}

// Build zips files (sorted, fixed time), encrypts them with keys read from
// random (crypto/rand in production; tests pass a fixed reader), and wraps
// the result. name is the app name for Detection.xml; setupFile names the
// file Intune runs.
func Build(name, setupFile string, files []File, modTime time.Time, random io.Reader) (Package, error) {
	plain, err := zipFiles(files, modTime, zip.Deflate)
	if err != nil {
		return Package{}, err
	}
	keys := make([]byte, 32+32+16)
	if _, err := io.ReadFull(random, keys); err != nil {
		return Package{}, fmt.Errorf("reading random keys: %w", err)
	}
	encKey, macKey, iv := keys[:32], keys[32:64], keys[64:]
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return Package{}, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	m := hmac.New(sha256.New, macKey)
	m.Write(iv)
	m.Write(ct)
	mac := m.Sum(nil)
	encrypted := make([]byte, 0, len(mac)+len(iv)+len(ct))
	encrypted = append(append(append(encrypted, mac...), iv...), ct...)
	digest := sha256.Sum256(plain)
	b64 := base64.StdEncoding.EncodeToString
	info := EncryptionInfo{
		EncryptionKey: b64(encKey), MacKey: b64(macKey), InitializationVector: b64(iv), Mac: b64(mac),
		ProfileIdentifier: "ProfileVersion1", FileDigest: b64(digest[:]), FileDigestAlgorithm: "SHA256",
	}
	det, err := detectionXML(name, setupFile, len(plain), info)
	if err != nil {
		return Package{}, err
	}
	// The outer zip stores its entries: the content is encrypted and does not compress.
	outer, err := zipFiles([]File{{DetectionPath, det}, {ContentPath, encrypted}}, modTime, zip.Store)
	if err != nil {
		return Package{}, err
	}
	return Package{Intunewin: outer, Encrypted: encrypted, UnencryptedSize: len(plain), Info: info, DetectionXML: det}, nil
}

func zipFiles(files []File, modTime time.Time, method uint16) ([]byte, error) {
	sorted := append([]File(nil), files...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range sorted {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: method, Modified: modTime.UTC()})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// detectionXML mirrors the Content Prep Tool's Detection.xml (no XML
// declaration; MsiInfo only for MSI setups).
func detectionXML(name, setupFile string, size int, info EncryptionInfo) ([]byte, error) {
	doc := etree.NewDocument()
	root := doc.CreateElement("ApplicationInfo")
	root.CreateAttr("xmlns:xsd", "http://www.w3.org/2001/XMLSchema")
	root.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	root.CreateAttr("ToolVersion", ToolVersion)
	root.CreateElement("Name").SetText(name)
	root.CreateElement("UnencryptedContentSize").SetText(fmt.Sprint(size))
	root.CreateElement("FileName").SetText("IntunePackage.intunewin")
	root.CreateElement("SetupFile").SetText(setupFile)
	ei := root.CreateElement("EncryptionInfo")
	for _, kv := range [][2]string{
		{"EncryptionKey", info.EncryptionKey}, {"MacKey", info.MacKey}, {"InitializationVector", info.InitializationVector},
		{"Mac", info.Mac}, {"ProfileIdentifier", info.ProfileIdentifier}, {"FileDigest", info.FileDigest},
		{"FileDigestAlgorithm", info.FileDigestAlgorithm},
	} {
		ei.CreateElement(kv[0]).SetText(kv[1])
	}
	doc.Indent(2)
	s, err := doc.WriteToString()
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}
