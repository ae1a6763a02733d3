// The HTTP methods a request may use: apart from the options so that the retry options, which the
// HTTP options hold, can name them without importing their holder back.

/** An HTTP method a request may use; `method` takes it in lower case too. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
