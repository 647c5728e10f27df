// Package dr implements direct routing: real server MAC resolution and the
// layer-2 rewrite.
//
// It must not touch layer 3 or 4.
package dr
