package iotda

import (
	"context"
	"net/http"
)

// Product operations (docs/iotda.md §6).

// CreateProduct creates a product: POST /v5/iot/{project_id}/products → 201.
func (c *Client) CreateProduct(ctx context.Context, in AddProduct) (*Product, error) {
	var out Product
	err := c.do(ctx, call{op: "create product", method: http.MethodPost, path: c.projectPath("products"),
		in: in, want: []int{http.StatusCreated}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ShowProduct returns one product.
func (c *Client) ShowProduct(ctx context.Context, id string) (*Product, error) {
	var out Product
	err := c.do(ctx, call{op: "show product", method: http.MethodGet, path: c.projectPath("products", id),
		want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListProducts pages the project's products.
func (c *Client) ListProducts(ctx context.Context, o ListOptions) (*ListProductsResponse, error) {
	var out ListProductsResponse
	err := c.do(ctx, call{op: "list products", method: http.MethodGet, path: c.projectPath("products"),
		query: o.values(), want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteProduct deletes a product → 204.
func (c *Client) DeleteProduct(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "delete product", method: http.MethodDelete, path: c.projectPath("products", id),
		want: []int{http.StatusNoContent}})
}
