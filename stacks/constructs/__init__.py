"""One construct per capability of the pipeline; the stack composes them."""
