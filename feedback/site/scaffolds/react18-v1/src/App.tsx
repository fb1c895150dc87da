import { Routes, Route, Link } from "react-router-dom";

function Home() {
  return (
    <main className="mx-auto max-w-3xl p-8">
      <h1 className="text-3xl font-bold text-slate-900">Welcome</h1>
      <p className="mt-4 text-slate-600">This site is a starting point. Replace it with your pages.</p>
    </main>
  );
}

export default function App() {
  return (
    <div className="min-h-screen bg-white">
      <nav className="border-b p-4">
        <Link to="/" className="font-semibold">Home</Link>
      </nav>
      <Routes>
        <Route path="/" element={<Home />} />
      </Routes>
    </div>
  );
}
