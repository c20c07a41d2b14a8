using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cairn.Api.Tests.Errors;

namespace Cairn.Api.Tests.Docs;

/// <summary>
/// The ```json examples of docs/api/*.md, sent to a real server in the order the document gives them. An example sits
/// under a heading that names the call and its documented status (<c>### Create: `POST /lun/api/v1.0/clone` → 201</c>):
/// under a call with a body, the first block is the request and a second one the answer; under a GET the block is the
/// answer. The status must be the documented one and every field of a documented answer must be in the real answer, with
/// the documented value where that is a string that is not elided with "…".
/// </summary>
public sealed partial class DocExampleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Example(string Heading, string Method, string Path, int Status, List<string> Blocks);

    [Theory]
    [InlineData("admin.md")]
    [InlineData("lun-clone.md")]
    public async Task Documented_examples_answer_as_documented(string doc)
    {
        var examples = Parse(await File.ReadAllTextAsync(Path.Combine(DocsDir(), doc), Ct));
        Assert.True(examples.Count >= 3, $"{doc}: only {examples.Count} examples found");

        await using var h = await ApiHost.StartAsync("pool");
        // The LUN examples clone this image.
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/volumes", """{"name":"pool/images/centos72","size":"1M","parents":true}""")).Code);
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/snapshots", """{"name":"pool/images/centos72@1"}""")).Code);

        var jobs = new List<string>();
        foreach (var ex in examples)
        {
            var path = ex.Path.Replace("<job_id>", jobs.FirstOrDefault() ?? "none", StringComparison.Ordinal);
            var hasBody = ex.Method != "GET";
            var (code, _, body, text) = await h.SendAsync(ex.Method, path, hasBody ? ex.Blocks[0] : null);
            Assert.True((int)code == ex.Status, $"{doc}, {ex.Heading}: {(int)code} (documented {ex.Status}): {text}");
            if ((string?)body?["job_id"] is { } job)
            {
                jobs.Add(job);
                await h.Jobs.WaitAsync(Guid.Parse(job), Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
            }
            var answer = hasBody ? ex.Blocks.ElementAtOrDefault(1) : ex.Blocks[0];
            if (answer is not null)
                foreach (var missing in Missing(JsonNode.Parse(answer)!, body, ""))
                    Assert.Fail($"{doc}, {ex.Heading}: documented field {missing} is not in the answer {text}");
        }
    }

    /// <summary>Fields of <paramref name="documented"/> (objects, recursively) that <paramref name="actual"/> lacks or has with another string.</summary>
    private static IEnumerable<string> Missing(JsonNode documented, JsonNode? actual, string at)
    {
        if (documented is not JsonObject d) yield break;
        if (actual is not JsonObject a) { yield return at.Length == 0 ? "(an object)" : at; yield break; }
        foreach (var (k, v) in d)
        {
            if (!a.ContainsKey(k)) { yield return at + k; continue; }
            // A documented string is the real one, unless it is elided ("…", "iqn.…:node1").
            if (v is JsonValue dv && dv.TryGetValue<string>(out var ds) && !ds.Contains('…', StringComparison.Ordinal)
                && (a[k] is not JsonValue av || !av.TryGetValue<string>(out var s) || s != ds))
                yield return $"{at}{k} = \"{ds}\"";
            if (v is not null) foreach (var m in Missing(v, a[k], at + k + ".")) yield return m;
        }
    }

    private static List<Example> Parse(string markdown)
    {
        var result = new List<Example>();
        Example? current = null;
        var lines = markdown.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.StartsWith('#'))
            {
                var m = Heading().Match(line);
                current = m.Success ? new Example(line.TrimStart('#', ' '), m.Groups[1].Value, m.Groups[2].Value, int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture), []) : null;
                if (current is not null) result.Add(current);
            }
            else if (line == "```json")
            {
                var block = new List<string>();
                while (++i < lines.Length && lines[i].TrimEnd('\r') != "```") block.Add(lines[i]);
                current?.Blocks.Add(string.Join('\n', block));
            }
        }
        return [.. result.Where(e => e.Blocks.Count > 0)];
    }

    private static string DocsDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (Directory.Exists(Path.Combine(d.FullName, "docs", "api"))) return Path.Combine(d.FullName, "docs", "api");
        throw new DirectoryNotFoundException("docs/api not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex("""`(GET|POST|PUT|PATCH|DELETE) (/[^`\s\[]+)[^`]*` → (\d{3})""")]
    private static partial Regex Heading();
}
