/** meshctl's version, kept in step with package.json by the test in program.test.ts. */
export const MESHCTL_VERSION = '0.1.0';
