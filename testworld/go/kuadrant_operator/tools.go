//go:build tools

// Package tools pins the command this module builds: kuadrant-operator v1.5.2, the version the collection's current release set installs.
package tools

import _ "github.com/kuadrant/kuadrant-operator/cmd"
