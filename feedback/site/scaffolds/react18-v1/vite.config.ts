import path from "node:path";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// webgen reads this file as data (never runs it): `resolve.alias`, `base` and literal `define` values are used.
export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { "@": path.resolve(__dirname, "./src") },
  },
});
