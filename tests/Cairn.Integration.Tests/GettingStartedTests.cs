using System.Globalization;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>
/// What a new user meets first: the README's own commands, run as it shows them, do what it says; the server is
/// found by its name; its first lines say where everything is, and its last one that it stopped.
/// </summary>
public sealed class GettingStartedTests
{
    /// <summary>The repository this test was built from (the directory holding Cairn.slnx).</summary>
    private static string Repo
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Cairn.slnx"))) return d.FullName;
            throw new InvalidOperationException("Cairn.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The binary the README points at: <c>src/Cairn/bin/Release/net10.0/cairn</c>.</summary>
    private static string BuiltCairn => Path.Combine(Repo, "src", "Cairn", "bin", "Release", "net10.0", "cairn");

    [Fact]
    public async Task The_readme_serve_command_keeps_its_data_in_the_directory_it_was_run_from()
    {
        var cwd = TempDir.Create("cairn-readme");
        int http = CairnProcess.FreePort(), iscsi = CairnProcess.FreePort();
        // The README's command, less the build the test run has already done (--no-build), from a directory of its own.
        await using var run = CairnServer.StartProgram("dotnet",
            ["run", "--no-build", "-c", "Release", "--project", Path.Combine(Repo, "src", "Cairn"), "--", "serve",
             "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{iscsi}"],
            new Dictionary<string, string?> { ["CAIRN_DATA"] = null, ["CAIRN_CONFIG"] = null }, workingDirectory: cwd);
        try
        {
            await run.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}"), TimeSpan.FromSeconds(120));
            Assert.True(File.Exists(Path.Combine(cwd, "cairn-data", "state.db")), run.Log);
            // dotnet run starts the built program as its child: that is the server, named cairn.
            var children = Children(run.Id);
            Assert.True(children.Any(p => Comm(p) == "cairn"), $"no child named cairn under dotnet run ({string.Join(", ", children.Select(Comm))})");
        }
        finally
        {
            // Stop the server itself: whether dotnet run passes SIGTERM on is not this test's question.
            foreach (var p in Children(run.Id))
                await Commands.RunAsync("kill", ["-TERM", p.ToString(CultureInfo.InvariantCulture)]);
        }
    }

    [Fact]
    public async Task The_built_server_is_named_cairn_and_says_where_everything_is_and_when_it_stopped()
    {
        var data = TempDir.Create("cairn-banner");
        int http = CairnProcess.FreePort(), iscsi = CairnProcess.FreePort();
        var server = CairnServer.StartProgram(BuiltCairn,
            ["serve", "--data", data, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{iscsi}", "--pools", "tank"]);
        await using (server)
        {
            await server.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}"));
            // The server re-executes itself once (its runtime settings); the kernel names it after what it executed.
            Assert.Equal("cairn", Comm(server.Id));
            var environ = File.ReadAllText($"/proc/{server.Id}/environ").Split('\0');
            Assert.Contains("DOTNET_GCgen0size=0x200000", environ);
            Assert.Contains("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1", environ);
            Assert.Contains("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0", environ);
            Assert.True(await server.WaitForLogAsync("cairn serving:"), server.Log);
            var banner = server.Log.Split('\n').First(l => l.Contains("cairn serving:", StringComparison.Ordinal));
            Assert.Contains($"http 127.0.0.1:{http}", banner);
            Assert.Contains($"iscsi 127.0.0.1:{iscsi}", banner);
            Assert.Contains($"socket {Path.Combine(data, "cairn.sock")}", banner);
            Assert.Contains($"data {data}", banner);
            Assert.Contains("pools tank (embedded)", banner);
            await server.StopAsync();
            Assert.Equal(0, server.ExitCode);
            Assert.Contains("cairn stopped", server.Log);
        }
    }

    [Fact]
    public async Task The_readme_names_every_package_ci_installs_to_run_the_whole_suite()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(Repo, "README.md"), TestContext.Current.CancellationToken);
        var ci = await File.ReadAllTextAsync(Path.Combine(Repo, ".ci", "run"), TestContext.Current.CancellationToken);
        var list = System.Text.RegularExpressions.Regex.Match(ci, @"PACKAGES=\(([^)]*)\)");
        Assert.True(list.Success, "no PACKAGES=( … ) in .ci/run");
        var packages = list.Groups[1].Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(packages);
        var section = readme[readme.IndexOf("./test.sh", StringComparison.Ordinal)..];
        Assert.All(packages, p => Assert.Matches(@"[`\s]" + System.Text.RegularExpressions.Regex.Escape(p) + @"[`\s]", section));
    }

    [Fact]
    public async Task The_readme_quick_start_commands_run_as_written()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(Repo, "README.md"));
        var block = readme[readme.IndexOf("alias cairn=", StringComparison.Ordinal)..];
        block = block[..block.IndexOf("\n\n", block.IndexOf("    cairn ", StringComparison.Ordinal), StringComparison.Ordinal)];
        // Indented lines of the code block, continuations joined, comments dropped.
        var commands = new List<string[]>();
        foreach (var line in block.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n').Select(l => l.Trim()))
        {
            if (!line.StartsWith("cairn ", StringComparison.Ordinal)) continue;
            var text = line.Contains(" #", StringComparison.Ordinal) ? line[..line.IndexOf(" #", StringComparison.Ordinal)] : line;
            commands.Add(text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]);
        }
        Assert.True(commands.Count >= 8, "the quick start's commands were not found in the README:\n" + block);

        var dir = TempDir.Create("cairn-quick");
        var image = Path.Combine(dir, "centos.raw");
        var bytes = new byte[8 << 20];
        new Random(3).NextBytes(bytes.AsSpan(0, 4 << 20));
        await File.WriteAllBytesAsync(image, bytes);
        var data = Path.Combine(dir, "cairn-data");
        int http = CairnProcess.FreePort();
        // No pools declared: the quick start creates its own.
        await using var server = CairnServer.Start(["serve", "--data", data, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}"],
            new Dictionary<string, string?> { ["CAIRN_POOLS"] = null });
        await server.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}"));
        foreach (var c in commands)
        {
            var args = c.Select(a => a == "centos.raw" ? image : a).Concat(["--server", "unix:" + Path.Combine(data, "cairn.sock")]).ToArray();
            (await CairnProcess.RunCliAsync(args)).Ok();
        }
    }

    /// <summary>The natively compiled CLI every Release build publishes (src/Cairn.Cli).</summary>
    private static string NativeCairn => Path.Combine(Repo, "src", "Cairn.Cli", "bin", "native", "cairn");

    [Fact]
    public async Task The_native_cli_starts_the_server_and_answers_as_the_managed_one_does()
    {
        Assert.True(File.Exists(NativeCairn), $"{NativeCairn} is missing: the Release build of src/Cairn publishes it (needs gcc)");
        var data = TempDir.Create("cairn-native");
        int http = CairnProcess.FreePort();
        // serve hands over to the managed server: same process, named cairn.
        var server = CairnServer.StartProgram(NativeCairn,
            ["serve", "--data", data, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}", "--pools", "tank"],
            new Dictionary<string, string?> { ["CAIRN_SERVER_PROGRAM"] = null });
        await using (server)
        {
            await server.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}"));
            Assert.Equal("cairn", Comm(server.Id));
            var sock = "unix:" + Path.Combine(data, "cairn.sock");
            async Task<CliResult> Native(params string[] args)
            {
                var r = await Commands.RunAsync(NativeCairn, [.. args, "--server", sock], TimeSpan.FromMinutes(1));
                return new CliResult(r.ExitCode, r.StdOut, r.StdErr);
            }
            (await Native("volume", "create", "tank/n1", "--size", "1G")).Ok();
            var native = (await Native("volume", "list", "--json")).Json().ToJsonString();
            var managed = (await CairnProcess.RunCliAsync(["volume", "list", "--json", "--server", sock])).Json().ToJsonString();
            Assert.Equal(managed, native);
            Assert.Contains("tank/n1", (await Native("volume", "list")).Ok().Stdout);
            var typo = await Native("volume", "list", "--jsn");
            Assert.Equal(2, typo.ExitCode);
            Assert.StartsWith("error: unrecognized option '--jsn'", typo.Stderr);
            Assert.Equal(3, (await Native("volume", "show", "tank/none")).ExitCode);
        }
    }

    private static string Comm(int pid) => ProcessTree.Comm(pid);

    private static List<int> Children(int pid) => ProcessTree.Descendants(pid);
}
