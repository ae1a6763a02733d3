// The HTTP methods a request may use: apart from the options so that the retry options, which the
// HTTP options hold, can name them without importing their holder back.

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
