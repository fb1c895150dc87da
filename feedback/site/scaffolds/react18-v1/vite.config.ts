import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Owned by the scaffold: webgen builds with its own copy of this configuration,
// so edits to this file have no effect.
export default defineConfig({
  plugins: [react()],
});
