//go:build tools

// Package tools pins the command this module builds: Authorino, the
// external authorization server kuadrant-operator 1.4.3 deploys.
package tools

import _ "github.com/kuadrant/authorino"
