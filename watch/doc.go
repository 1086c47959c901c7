// Package watch implements develop.watch (coming in a later issue).
package watch
