// Package fakeapi holds what the loopback fakes of ARM and IMDS share: the
// api-versions Azure documents for each API the project calls, written out
// from Azure's documentation (never taken from the production constants),
// and the services' own answers to a missing or unknown api-version
// (testdata/PROVENANCE.md, "Service errors for api-version"). Test support.
package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Documented api-versions, per API.
var (
	// IMDSInstance: "Supported API versions" of the Instance Metadata
	// Service (MicrosoftDocs/azure-compute-docs,
	// articles/virtual-machines/instance-metadata-service.md).
	IMDSInstance = []string{
		"2025-04-07", "2024-07-17", "2024-03-15", "2023-11-15", "2023-07-01", "2021-12-13", "2021-11-15",
		"2021-11-01", "2021-10-01", "2021-08-01", "2021-05-01", "2021-03-01", "2021-02-01", "2021-01-01",
		"2020-12-01", "2020-10-01", "2020-09-01", "2020-07-15", "2020-06-01", "2019-11-01", "2019-08-15",
		"2019-08-01", "2019-06-04", "2019-06-01", "2019-04-30", "2019-03-11", "2019-02-01", "2018-10-01",
		"2018-04-02", "2018-02-01", "2017-12-01", "2017-10-01", "2017-08-01", "2017-04-02", "2017-03-01",
	}
	// IMDSToken: the managed-identity token endpoint of IMDS
	// (/metadata/identity, introduced with 2018-02-01; the version every
	// "acquire a token" example of the managed identities documentation uses).
	IMDSToken = []string{"2018-02-01"}
	// Compute: Microsoft.Compute (virtualMachines list, get, patch,
	// deallocate), from the REST reference and the supported list ARM
	// itself returns (Azure/azure-sdk-for-java#27941).
	Compute = []string{
		"2025-04-01", "2024-11-01", "2024-07-01", "2024-03-01", "2023-09-01", "2023-07-01", "2023-03-01",
		"2022-11-01", "2022-08-01", "2022-03-01", "2022-01-01", "2021-11-01", "2021-07-01", "2021-04-01",
		"2021-03-01", "2021-01-01", "2020-12-01", "2020-06-01",
	}
	// Authorization: Microsoft.Authorization permissions, role definitions
	// and role assignments (REST reference).
	Authorization = []string{"2022-04-01", "2018-01-01-preview", "2015-07-01"}
	// DesktopVirtualization: Microsoft.DesktopVirtualization session hosts
	// (REST reference).
	DesktopVirtualization = []string{"2024-04-03", "2023-09-05", "2022-09-09"}
	// ActivityLog: Microsoft.Insights eventtypes/management/values, the
	// Activity Log's list (REST reference: 2015-04-01 only).
	ActivityLog = []string{"2015-04-01"}
	// ResourceGraph: Microsoft.ResourceGraph/resources, the api-versions
	// that answer objectArray rows with $skipToken (REST reference).
	ResourceGraph = []string{"2024-04-01", "2022-10-01", "2021-03-01"}
)

// ARMVersionOK answers a request whose api-version ARM would refuse the
// way ARM does (400, MissingApiVersionParameter or
// InvalidApiVersionParameter) and reports false; true when the version is
// one of supported.
func ARMVersionOK(w http.ResponseWriter, r *http.Request, supported []string) bool {
	v, given := r.URL.Query()["api-version"]
	var code, msg string
	switch {
	case !given || len(v) == 0 || v[0] == "":
		code, msg = "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."
	case !slices.Contains(supported, v[0]):
		code, msg = "InvalidApiVersionParameter", fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '%s'.", v[0], strings.Join(supported, ","))
	default:
		return true
	}
	ARMError(w, http.StatusBadRequest, code, msg)
	return false
}

// IMDSVersionOK answers a request whose api-version IMDS would refuse the
// way IMDS documents it (400, "Bad request. api-version is invalid or was
// not specified in the request…" with the three newest versions) and
// reports false; true when the version is one of supported.
func IMDSVersionOK(w http.ResponseWriter, r *http.Request, supported []string) bool {
	if v := r.URL.Query().Get("api-version"); v != "" && slices.Contains(supported, v) {
		return true
	}
	b, _ := json.Marshal(map[string]any{
		"error":           "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
		"newest-versions": IMDSInstance[:3],
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(b)
	return false
}

// WriteJSON answers v as JSON with the content type ARM and Graph send.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ARMError answers ARM's error envelope, {"error":{"code","message"}}.
func ARMError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
