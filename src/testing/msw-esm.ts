// The ES module build's msw: a plain static import, as the testing entry has always had. Imported only
// by ./msw.ts; see there why it is a file of its own.
export { getResponse } from 'msw';
