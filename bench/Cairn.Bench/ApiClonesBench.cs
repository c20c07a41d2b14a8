using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Cairn.Bench;

/// <summary>
/// 1,000 clones of one snapshot through the admin API of a real server, from one client: one request per clone
/// (sequential, and 16 in flight on one HttpClient), and as one batch job.
/// </summary>
internal static class ApiClonesBench
{
    public static int Run(string[] args)
    {
        int n = int.Parse(BenchArgs.Get(args, "count", "1000"), System.Globalization.CultureInfo.InvariantCulture);
        var dir = BenchArgs.Scratch(args, "api-clones");
        try
        {
            using var server = new ServerProcess(dir);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
            Post(http, "/cairn/v1/volumes", new JsonObject { ["name"] = "b/golden", ["size"] = 10L << 30, ["parents"] = true });
            Post(http, "/cairn/v1/snapshots", new JsonObject { ["name"] = "b/golden@s" });
            // Warm up the server's JIT with a few clones.
            for (int i = 0; i < 20; i++) Post(http, "/cairn/v1/clones", new JsonObject { ["source"] = "b/golden@s", ["target"] = $"b/warm{i}" });

            var sw = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) Post(http, "/cairn/v1/clones", new JsonObject { ["source"] = "b/golden@s", ["target"] = $"b/seq{i}" });
            var seq = sw.Elapsed;

            sw.Restart();
            Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = 16 }, i =>
                Post(http, "/cairn/v1/clones", new JsonObject { ["source"] = "b/golden@s", ["target"] = $"b/par{i}" }));
            var par = sw.Elapsed;

            var ops = new JsonArray();
            for (int i = 0; i < n; i++) ops.Add(new JsonObject { ["op"] = "clone", ["source"] = "b/golden@s", ["target"] = $"b/batch{i}" });
            sw.Restart();
            var id = Post(http, "/cairn/v1/batch", new JsonObject { ["ops"] = ops })!["id"]!.GetValue<string>();
            while (true)
            {
                var j = JsonNode.Parse(http.GetStringAsync($"/cairn/v1/jobs/{id}").Result)!;
                var st = j["state"]!.GetValue<string>();
                if (st == "succeeded") break;
                if (st is "failed" or "cancelled") throw new InvalidOperationException("batch job " + st + ": " + j["error"]);
                Thread.Sleep(5);
            }
            var batch = sw.Elapsed;

            Console.WriteLine($"{n} clones through the admin API of a real server, one client:");
            Console.WriteLine($"  one request per clone, sequential : {seq.TotalSeconds:F3} s ({seq.TotalMilliseconds / n:F3} ms/clone)");
            Console.WriteLine($"  one request per clone, 16 parallel: {par.TotalSeconds:F3} s ({par.TotalMilliseconds / n:F3} ms/clone)");
            Console.WriteLine($"  one batch job (POST /batch + poll): {batch.TotalSeconds:F3} s ({batch.TotalMilliseconds / n:F3} ms/clone)");
            Console.WriteLine($"  target: under 2 s -> sequential {(seq.TotalSeconds < 2 ? "met" : "NOT met")}, parallel {(par.TotalSeconds < 2 ? "met" : "NOT met")}, batch {(batch.TotalSeconds < 2 ? "met" : "NOT met")}");
            return 0;
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    private static JsonNode? Post(HttpClient http, string path, JsonNode body)
    {
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var r = http.PostAsync(path, content).Result;
        var text = r.Content.ReadAsStringAsync().Result;
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)r.StatusCode} {text}");
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }
}
