// Every workflow type the workers run; the bundle is built from this file.
export {};
