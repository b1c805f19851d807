// Package winetest runs the real Windows build of avd-agent under Wine
// against the loopback fake of IMDS, token and ARM (see winetest_test.go).
// It has no production code.
package winetest
