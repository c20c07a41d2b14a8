using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;

namespace Cairn.Integration.Tests;

/// <summary>
/// The CLI's conventions (docs/api/admin.md, "CLI output and exit codes") against the class's real server: tables and
/// aligned fields, JSON with --json on every command, one error line with a hint, the documented exit codes, help
/// text, progress only on a terminal, folder destroy and job filters. Names here live under d/, c/ and k/.
/// </summary>
public sealed partial class CliEndToEndTests
{
    private const int Ok = 0, Error = 1, Usage = 2, NotFound = 3;

    [Fact]
    public async Task Every_command_prints_valid_json_with_json_and_does_not_escape_plus()
    {
        var runs = new List<(string What, CliResult R)>();
        async Task<JsonNode> J(params string[] args)
        {
            var r = await _server.CliAsync([.. args, "--json"]);
            runs.Add((string.Join(' ', args), r));
            return r.Json();
        }
        Assert.Equal("volume", (await J("volume", "create", "d/a/v", "--size", "1G", "--parents"))["type"]!.GetValue<string>());
        Assert.Equal("folder", (await J("folder", "create", "d/f"))["type"]!.GetValue<string>());
        Assert.Equal("d/a/v", (await J("volume", "show", "d/a/v"))["name"]!.GetValue<string>());
        Assert.Equal(2L << 30, (await J("volume", "resize", "d/a/v", "--size", "2G"))["size"]!.GetValue<long>());
        Assert.Equal("d/a/v@s", (await J("snapshot", "create", "d/a/v@s"))["name"]!.GetValue<string>());
        Assert.Empty((await J("snapshot", "show", "d/a/v@s"))["clones"]!.AsArray());
        Assert.Equal("d/a/v@s", (await J("clone", "d/a/v@s", "d/a/c"))["origin"]!.GetValue<string>());
        Assert.Single((await J("snapshot", "list", "d/a/v")).AsArray());
        Assert.Contains((await J("volume", "list", "d")).AsArray(), v => v!["name"]!.GetValue<string>() == "d/a/c");
        Assert.Contains((await J("folder", "list", "d")).AsArray(), v => v!["name"]!.GetValue<string>() == "d/f");
        Assert.Contains((await J("pool", "list")).AsArray(), p => p!["name"]!.GetValue<string>() == "d");
        Assert.Equal("d", (await J("pool", "show", "d"))["name"]!.GetValue<string>());
        Assert.IsType<JsonArray>(await J("job", "list"));
        Assert.IsType<JsonArray>(await J("target", "list"));
        // Calls answered with no body print what they did, as JSON.
        Assert.Equal("d/a/c", (await J("volume", "destroy", "d/a/c"))["destroyed"]!.GetValue<string>());
        Assert.Equal("d/a/v@s", (await J("snapshot", "destroy", "d/a/v@s"))["destroyed"]!.GetValue<string>());
        Assert.Equal("d/f", (await J("folder", "destroy", "d/f"))["destroyed"]!.GetValue<string>());

        // Times are "…+00:00", printed as such (the default encoder wrote \u002B).
        var show = runs.Single(x => x.What == "volume show d/a/v").R.Stdout;
        Assert.Contains("+00:00\"", show);
        foreach (var (what, r) in runs)
        {
            Assert.DoesNotContain("\\u00", r.Stdout);
            Assert.True(r.Stderr.Length == 0, $"{what} --json wrote to stderr: {r.Stderr}");
        }
    }

    [Fact]
    public async Task One_object_prints_aligned_fields_and_a_list_prints_a_table()
    {
        (await _server.CliAsync("volume", "create", "d/b/v", "--size", "1G", "--parents")).Ok();
        var snap = (await _server.CliAsync("snapshot", "create", "d/b/v@s")).Ok().Stdout;
        (await _server.CliAsync("clone", "d/b/v@s", "d/b/c")).Ok();
        foreach (var args in new[] { new[] { "volume", "show", "d/b/v" }, ["snapshot", "show", "d/b/v@s"], ["pool", "show", "d"], ["volume", "resize", "d/b/c", "--size", "2G"] })
        {
            var lines = (await _server.CliAsync(args)).Ok().Stdout.TrimEnd().Split('\n');
            Assert.True(lines.Length > 3, string.Join('\n', lines));
            // field: value, every value starting in the same column; no JSON inside the text.
            static int ValueColumn(string l) => l.IndexOf(':', StringComparison.Ordinal) + 1 + l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].TakeWhile(c => c == ' ').Count();
            var column = ValueColumn(lines[0]);
            foreach (var l in lines)
            {
                Assert.Matches(@"^[a-z_]+: +\S", l);
                Assert.True(ValueColumn(l) == column, $"not aligned: '{l}' in\n{string.Join('\n', lines)}");
                Assert.DoesNotContain("[", l);
                Assert.DoesNotContain("{", l);
            }
        }
        var snapShow = (await _server.CliAsync("snapshot", "show", "d/b/v@s")).Stdout;
        Assert.Matches(@"(?m)^clones: +d/b/c$", snapShow);
        Assert.Matches(@"(?m)^size: +1G$", snapShow);
        Assert.Matches(@"(?m)^name: +d/b/v@s$", snap);
        Assert.Equal("destroyed: d/b/c", (await _server.CliAsync("volume", "destroy", "d/b/c")).Ok().Stdout.TrimEnd());
        var table = (await _server.CliAsync("snapshot", "list", "d/b/v")).Ok().Stdout.TrimEnd().Split('\n');
        Assert.StartsWith("NAME", table[0]);
        Assert.StartsWith("d/b/v@s ", table[1]);
    }

    [Theory]
    [InlineData("error: unrecognized option '--jsn' (see 'cairn volume list --help')", "volume", "list", "--jsn")]
    [InlineData("error: unrecognized option '--nope' (see 'cairn volume show --help')", "volume", "show", "d/x", "--nope")]
    [InlineData("error: unexpected argument 'b' (see 'cairn volume list --help')", "volume", "list", "a", "b")]
    [InlineData("error: option '--size' is required (see 'cairn volume create --help')", "volume", "create", "d/x")]
    [InlineData("error: unexpected argument 'frob' (see 'cairn volume --help')", "volume", "frob")]
    [InlineData("error: missing command (see 'cairn folder --help')", "folder")]
    public async Task A_bad_command_line_is_one_error_line_with_a_hint_and_exit_code_2(string expected, params string[] args)
    {
        var r = await _server.CliAsync(args);
        Assert.Equal(Usage, r.ExitCode);
        Assert.Equal(expected, r.Stderr.TrimEnd());
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public async Task Serve_rejects_the_client_options()
    {
        var r = await CairnProcess.RunCliAsync(["serve", "--json"]);
        Assert.Equal(Usage, r.ExitCode);
        Assert.Equal("error: unrecognized option '--json' (see 'cairn serve --help')", r.Stderr.TrimEnd());
    }

    [Fact]
    public async Task Every_command_uses_the_documented_exit_codes()
    {
        (await _server.CliAsync("volume", "create", "d/e/v", "--size", "1G", "--parents")).Ok();
        async Task Code(int code, params string[] args)
        {
            var r = await _server.CliAsync(args);
            Assert.True(r.ExitCode == code, $"cairn {string.Join(' ', args)}: exit {r.ExitCode}, expected {code}\n{r.Stderr}");
            if (code != Ok)
            {
                Assert.StartsWith("error: ", r.Stderr);
                Assert.Single(r.Stderr.TrimEnd().Split('\n'));
            }
        }
        await Code(Ok, "volume", "show", "d/e/v");
        await Code(NotFound, "volume", "show", "d/e/nope");
        await Code(NotFound, "volume", "destroy", "d/e/nope");
        await Code(NotFound, "snapshot", "show", "d/e/v@nope");
        await Code(NotFound, "snapshot", "list", "d/e/nope");
        await Code(NotFound, "clone", "d/e/v@nope", "d/e/c");
        await Code(NotFound, "folder", "destroy", "d/e/nope");
        await Code(NotFound, "pool", "show", "nopool");
        await Code(NotFound, "job", "show", Guid.NewGuid().ToString());
        await Code(NotFound, "target", "show", "iqn.2026-01.org.example:nope");
        await Code(NotFound, "volume", "import", "d/e/i", "/nonexistent/file.img");
        await Code(Usage, "volume", "create", "d/e/bad name", "--size", "1G");
        await Code(Usage, "volume", "create", "d/e/w", "--size", "ten");
        await Code(Usage, "job", "show", "not-a-guid");
        await Code(Usage, "job", "list", "--state", "bogus");
        await Code(Usage, "folder", "destroy", "d/e/v");
        await Code(Usage, "volume", "resize", "d/e/v", "--size", "512M");
        await Code(Error, "volume", "create", "d/e/v", "--size", "1G");
        await Code(Ok, "snapshot", "create", "d/e/v@s");
        await Code(Ok, "clone", "d/e/v@s", "d/e/c");
        await Code(Error, "snapshot", "destroy", "d/e/v@s");
        await Code(Error, "volume", "destroy", "d/e/v");
        var unreachable = await CairnProcess.RunCliAsync(["pool", "list", "--server", $"http://127.0.0.1:{CairnProcess.FreePort()}"]);
        Assert.Equal(Error, unreachable.ExitCode);
    }

    [Fact]
    public async Task Help_shows_optional_arguments_as_optional_describes_everything_and_keeps_client_options_off_serve()
    {
        var list = (await CairnProcess.RunCliAsync(["volume", "list", "--help"])).Ok().Stdout;
        Assert.Contains("cairn volume list [<ROOT>] [options]", list);
        Assert.Matches(@"(?m)^  \[<ROOT>\]  +Only", list);
        Assert.DoesNotMatch(@"(?m)^  <ROOT>", list);
        Assert.Contains("--json", list);

        var serve = (await CairnProcess.RunCliAsync(["serve", "--help"])).Ok().Stdout;
        Assert.DoesNotContain("--server", serve);
        Assert.DoesNotContain("--json", serve);
        // The separator HttpsSetup.SplitAllow splits on.
        Assert.Matches(@"--client-allow <LIST> +.*separated by ';'", serve);
        Assert.DoesNotContain("comma-separated", serve);

        // Every argument and option of every command has a description: no row of Arguments/Options is a bare name.
        string[][] commands =
        [
            ["serve"], ["volume", "create"], ["volume", "import"], ["volume", "export"], ["volume", "list"], ["volume", "show"],
            ["volume", "resize"], ["volume", "destroy"], ["folder", "create"], ["folder", "list"], ["folder", "destroy"],
            ["snapshot", "create"], ["snapshot", "list"], ["snapshot", "show"], ["snapshot", "destroy"], ["clone"],
            ["pool", "create"], ["pool", "list"], ["pool", "show"], ["job", "list"], ["job", "show"], ["job", "watch"], ["job", "cancel"],
            ["target", "create"], ["target", "list"], ["target", "show"], ["target", "delete"], ["target", "allow"], ["target", "deny"],
            ["project", "create"], ["project", "list"], ["project", "show"], ["project", "delete"], ["user", "create"], ["user", "list"],
            ["user", "show"], ["user", "delete"], ["user", "password"], ["role", "add"], ["role", "remove"],
        ];
        foreach (var c in commands)
        {
            var help = (await CairnProcess.RunCliAsync([.. c, "--help"])).Ok().Stdout;
            string? section = null;
            foreach (var line in help.Split('\n'))
            {
                if (line.Length > 0 && line[0] != ' ') section = line.TrimEnd();
                else if (section is "Arguments:" or "Options:" && line.StartsWith("  ", StringComparison.Ordinal) && line.Length > 2 && line[2] != ' ')
                    Assert.True(System.Text.RegularExpressions.Regex.IsMatch(line, @"^  \S.*?\S {2,}\S"), $"cairn {string.Join(' ', c)} --help: no description in '{line}'");
            }
        }
    }

    [Fact]
    public async Task Progress_is_drawn_on_stderr_only_when_it_is_a_terminal()
    {
        var dir = TempDir.Create("cairn-progress");
        var src = Path.Combine(dir, "src.img");
        await File.WriteAllBytesAsync(src, Enumerable.Range(0, 8 << 20).Select(i => (byte)(i * 7)).ToArray());

        // Piped (as here): the answer and nothing else.
        var piped = await _server.CliAsync("volume", "import", "k/p", src, "--parents", "--json");
        Assert.Equal(8L << 20, piped.Json()["image_size"]!.GetValue<long>());
        Assert.Equal("", piped.Stderr);
        var pipedExport = await _server.CliAsync("volume", "export", "k/p", Path.Combine(dir, "piped.img"));
        Assert.Equal("", pipedExport.Ok().Stderr);

        // On a terminal (script(1) gives the CLI a pty for stderr; stdout still goes to a file): a bar, then a rate line.
        var imp = await OnTerminalAsync(dir, ["volume", "import", "k/q", src, "--parents", "--json"]);
        Assert.Equal(8L << 20, imp.Stdout["image_size"]!.GetValue<long>());
        Assert.Contains("import src.img ", imp.Terminal);
        Assert.Matches(@"import src\.img done: 8M in [0-9.]+s \([0-9.]+[KMGT]?/s\)", imp.Terminal);
        var exp = await OnTerminalAsync(dir, ["volume", "export", "k/q", Path.Combine(dir, "out.img"), "--json"]);
        Assert.Equal(8L << 20, exp.Stdout["size"]!.GetValue<long>());
        Assert.Matches(@"export k/q \[[#-]{30}\] +\d+%", exp.Terminal);
        Assert.Matches(@"export k/q done: 8M in [0-9.]+s \([0-9.]+[KMGT]?/s\)", exp.Terminal);
        Assert.Equal(await File.ReadAllBytesAsync(src), await File.ReadAllBytesAsync(Path.Combine(dir, "out.img")));

        // Waiting on a batch job: the bar, then how many items at what rate; --json still prints the job.
        (await _server.CliAsync("snapshot", "create", "k/q@s")).Ok();
        var id = await SubmitBatchAsync(Enumerable.Range(0, 5).Select(i => ("k/q@s", $"k/w{i}")));
        var watch = await OnTerminalAsync(dir, ["job", "watch", id, "--json"]);
        Assert.Equal("succeeded", watch.Stdout["state"]!.GetValue<string>());
        Assert.Matches(@"job batch done: succeeded: 5 items in [0-9.]+s \([0-9.]+ items/s\)", watch.Terminal);
        var pipedWatch = await _server.CliAsync("job", "watch", id, "--json");
        Assert.Equal(id, pipedWatch.Json()["id"]!.GetValue<string>());
        Assert.Equal("", pipedWatch.Stderr);
    }

    [Fact]
    public async Task Folders_are_listed_and_destroyed_through_the_cli()
    {
        (await _server.CliAsync("folder", "create", "c/f/g", "--parents")).Ok();
        (await _server.CliAsync("volume", "create", "c/f/g/v", "--size", "1G")).Ok();
        (await _server.CliAsync("snapshot", "create", "c/f/g/v@s")).Ok();
        var folders = (await _server.CliAsync("folder", "list", "c", "--json")).Json().AsArray().Select(f => f!["name"]!.GetValue<string>()).ToList();
        Assert.Equal(["c", "c/f", "c/f/g"], folders.Order(StringComparer.Ordinal));
        var table = (await _server.CliAsync("folder", "list", "c/f")).Ok().Stdout;
        Assert.Matches(@"(?m)^NAME +VOLUMES", table);
        Assert.Matches(@"(?m)^c/f/g +1 ", table);

        // Not empty: refused, and nothing goes; a volume is not destroyed as a folder.
        var refused = await _server.CliAsync("folder", "destroy", "c/f");
        Assert.Equal(Error, refused.ExitCode);
        Assert.Contains("c/f/g", refused.Stderr);
        Assert.Equal(Usage, (await _server.CliAsync("folder", "destroy", "c/f/g/v")).ExitCode);
        (await _server.CliAsync("volume", "show", "c/f/g/v")).Ok();

        Assert.Equal("destroyed: c/f", (await _server.CliAsync("folder", "destroy", "c/f", "--recursive")).Ok().Stdout.TrimEnd());
        Assert.Equal(NotFound, (await _server.CliAsync("volume", "show", "c/f/g/v")).ExitCode);
        Assert.Equal(NotFound, (await _server.CliAsync("folder", "destroy", "c/f")).ExitCode);
        Assert.DoesNotContain((await _server.CliAsync("snapshot", "list", "--json")).Json().AsArray(), s => s!["name"]!.GetValue<string>().StartsWith("c/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Job_list_filters_by_state_and_type_on_the_server()
    {
        (await _server.CliAsync("volume", "create", "k/j/base", "--size", "1G", "--parents")).Ok();
        (await _server.CliAsync("snapshot", "create", "k/j/base@s")).Ok();
        var good = await SubmitBatchAsync([("k/j/base@s", "k/j/ok")]);
        var bad = await SubmitBatchAsync([("k/j/base@nope", "k/j/bad")]);
        (await _server.CliAsync("job", "watch", good)).Ok();
        Assert.Equal(Error, (await _server.CliAsync("job", "watch", bad)).ExitCode);

        var failed = (await _server.CliAsync("job", "list", "--state", "failed", "--json")).Json().AsArray();
        Assert.All(failed, j => Assert.Equal("failed", j!["state"]!.GetValue<string>()));
        Assert.Contains(failed, j => j!["id"]!.GetValue<string>() == bad);
        Assert.DoesNotContain(failed, j => j!["id"]!.GetValue<string>() == good);

        var batches = (await _server.CliAsync("job", "list", "--type", "batch", "--json")).Json().AsArray();
        Assert.All(batches, j => Assert.Equal("batch", j!["type"]!.GetValue<string>()));
        Assert.Contains(batches, j => j!["id"]!.GetValue<string>() == good);
        Assert.Contains(batches, j => j!["id"]!.GetValue<string>() == bad);
        Assert.Empty((await _server.CliAsync("job", "list", "--type", "no-such-type", "--json")).Json().AsArray());
        var one = (await _server.CliAsync("job", "list", "--type", "batch", "--state", "succeeded", "--limit", "1", "--json")).Json().AsArray();
        Assert.Equal(good, Assert.Single(one)!["id"]!.GetValue<string>());

        // The filter is the server's: the API answers it directly too.
        using var http = new HttpClient();
        var api = JsonNode.Parse(await http.GetStringAsync(_server.Url + "/cairn/v1/jobs?type=no-such-type"))!.AsArray();
        Assert.Empty(api);
        var table = (await _server.CliAsync("job", "list", "--state", "failed")).Ok().Stdout;
        Assert.Contains(bad, table);
        Assert.DoesNotContain(good, table);
    }

    private async Task<string> SubmitBatchAsync(IEnumerable<(string Source, string Target)> clones)
    {
        var ops = new JsonArray();
        foreach (var (s, t) in clones) ops.Add(new JsonObject { ["op"] = "clone", ["source"] = s, ["target"] = t });
        using var http = new HttpClient();
        using var body = new StringContent(new JsonObject { ["ops"] = ops }.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        var resp = await http.PostAsync(_server.Url + "/cairn/v1/batch", body);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, resp.StatusCode);
        return JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
    }

    /// <summary>Runs the CLI under script(1), so that stderr is a terminal, with stdout to a file: what the terminal
    /// showed (carriage returns as line ends) and the JSON on stdout.</summary>
    private async Task<(string Terminal, JsonNode Stdout)> OnTerminalAsync(string dir, string[] args)
    {
        static string Q(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
        var outFile = Path.Combine(dir, $"stdout-{Guid.NewGuid():N}.json");
        var cmd = string.Join(' ', new[] { "dotnet", CairnProcess.CairnDll }.Concat(args).Concat(["--server", _server.Url]).Select(Q)) + " > " + Q(outFile);
        var r = await Cairn.TestSupport.Commands.RunAsync("script", ["-qec", cmd, "/dev/null"], TimeSpan.FromMinutes(2),
            new Dictionary<string, string?> { ["NO_COLOR"] = "1", ["CAIRN_SERVER"] = null, ["TERM"] = "xterm" });
        Assert.False(r.TimedOut, $"cairn {string.Join(' ', args)} timed out under script");
        Assert.True(r.ExitCode == 0, $"cairn {string.Join(' ', args)} exited {r.ExitCode} under script:\n{r.StdOut}{r.StdErr}");
        return (r.StdOut.Replace("\r", "\n", StringComparison.Ordinal), JsonNode.Parse(await File.ReadAllTextAsync(outFile))!);
    }
}
