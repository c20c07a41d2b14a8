using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>
/// Import from a file on the server's host: the CLI on that host names the file over the server's Unix socket and the
/// server reads it itself. Only peers who could read the file anyway (the server's user, root) may do that.
/// </summary>
public sealed class LocalImportTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private const string LocalFile = "application/vnd.cairn.local-file+json";
    private readonly string _dir = shared.Dir;

    // One server for the class; the kill -9 test replaces it with the restarted one.
    private CairnProcess Server
    {
        get => shared.Server;
        set => shared.Server = value;
    }

    private string Image(string name, long size, int seed)
    {
        var path = Path.Combine(_dir, name);
        var rnd = new Random(seed);
        using var fs = new FileStream(path, FileMode.Create);
        var block = new byte[1 << 20];
        // Data, written zeros and holes (a file that is not a multiple of 512 bytes, too).
        for (long off = 0; off < size; off += block.Length)
        {
            int len = (int)Math.Min(block.Length, size - off);
            switch ((off >> 20) % 3)
            {
                case 0: rnd.NextBytes(block); Array.Clear(block, 8192, 4096); fs.Write(block, 0, len); break;
                case 1: fs.Write(new byte[len]); break;
                default: fs.Seek(len, SeekOrigin.Current); break;
            }
        }
        fs.SetLength(size);
        return path;
    }

    [Fact]
    public async Task The_local_cli_imports_through_the_socket_and_an_acknowledged_import_survives_kill_9()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Server.SocketPath));
        var src = Image("a.img", (24L << 20) + 1000, 1);
        var imp = (await Server.LocalCliAsync("volume", "import", "img/a", src, "--parents", "--json")).Json();
        Assert.Equal(new FileInfo(src).Length, imp["image_size"]!.GetValue<long>());
        Assert.True(imp["written"]!.GetValue<long>() <= 8L << 20, "zero blocks and holes are not stored");
        Assert.False(imp["synced"]!.GetValue<bool>());
        Assert.True(await Server.WaitForLogAsync("Imported img/a from a server-side file"), Server.Log);

        // Without --server, a CLI run next to the data directory finds the socket on its own.
        var src2 = Image("b.img", 8L << 20, 2);
        var env = new Dictionary<string, string> { ["CAIRN_DATA"] = Server.DataDir };
        var imp2 = (await CairnProcess.RunCliAsync(["volume", "import", "img/b", src2, "--sync", "--json"], env: env)).Json();
        Assert.True(imp2["synced"]!.GetValue<bool>());
        Assert.True(await Server.WaitForLogAsync("Imported img/b from a server-side file"), Server.Log);

        // kill -9 right after the answer: nothing acknowledged is lost.
        Server.Kill();
        await Server.DisposeAsync();
        Server = await CairnProcess.StartAsync(Server.DataDir);
        foreach (var (vol, file) in new[] { ("img/a", src), ("img/b", src2) })
        {
            var back = Path.Combine(_dir, "back.img");
            (await Server.CliAsync("volume", "export", vol, back)).Ok();
            var expect = await File.ReadAllBytesAsync(file);
            var got = await File.ReadAllBytesAsync(back);
            // The volume is the image rounded up to a sector; the padding reads as zeros.
            Assert.Equal((expect.Length + 511) & ~511, got.Length);
            Assert.True(expect.AsSpan().SequenceEqual(got.AsSpan(0, expect.Length)), $"{vol} reads back equal to {file} after kill -9");
            Assert.True(got.AsSpan(expect.Length).IndexOfAnyExcept((byte)0) < 0);
        }
    }

    [Fact]
    public async Task Naming_a_server_side_file_is_refused_off_the_socket_and_bad_paths_change_nothing()
    {
        var src = Image("c.img", 4L << 20, 3);
        using (var tcp = new HttpClient { BaseAddress = new Uri(Server.Url) })
        {
            using var content = Body(src);
            var r = await tcp.PutAsync("/cairn/v1/volume-data/leak/c?parents=true", content);
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            Assert.Contains("Unix socket", await r.Content.ReadAsStringAsync());
        }
        using var local = SocketClient(Server.SocketPath);
        foreach (var (body, why) in new[]
                 {
                     ("{\"path\":\"relative/c.img\"}", "absolute"),
                     ("{\"path\":\"" + Path.Combine(_dir, "missing.img") + "\"}", "not a regular file"),
                     ("{\"path\":\"" + _dir + "\"}", "not a regular file"),
                     ("{}", "absolute"),
                     ("not json", ""),
                 })
        {
            using var content = new StringContent(body, Encoding.UTF8, LocalFile);
            var r = await local.PutAsync("/cairn/v1/volume-data/leak/c?parents=true", content);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains(why, await r.Content.ReadAsStringAsync());
        }
        var list = (await Server.CliAsync("volume", "list", "--json")).Json().AsArray();
        Assert.DoesNotContain(list, v => v!["name"]!.GetValue<string>().StartsWith("leak", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Another_user_on_the_socket_may_not_name_server_side_files()
    {
        var setpriv = ExternalTool.Require("setpriv", "util-linux");
        var curl = ExternalTool.Require("curl", "curl");
        if (Environment.UserName != "root")
        {
            if (ExternalTool.InCi) Assert.Fail("this test runs another user's client and needs root");
            Assert.Skip("needs root to run a client as another user");
        }
        // Open the socket to everyone: the peer's credentials must still stop a stranger reading the server's files.
        var mode = File.GetUnixFileMode(Server.SocketPath);
        File.SetUnixFileMode(Server.SocketPath, (UnixFileMode)0b110_110_110);
        try
        {
            await StrangerImportIsRefused(setpriv, curl);
        }
        finally
        {
            File.SetUnixFileMode(Server.SocketPath, mode); // the class's other tests share this server
        }
    }

    private async Task StrangerImportIsRefused(string setpriv, string curl)
    {
        var run = await Commands.RunAsync(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", curl, "-s", "-w", "\n%{http_code}", "--unix-socket", Server.SocketPath,
            "-X", "PUT", "-H", "Content-Type: " + LocalFile, "--data", "{\"path\":\"/etc/shadow\"}", "http://localhost/cairn/v1/volume-data/leak/shadow?parents=true"]);
        var output = run.StdOut;
        Assert.True(output.TrimEnd().EndsWith("403", StringComparison.Ordinal), output + run.StdErr);
        Assert.Contains("own user or root", output);
        var list = (await Server.CliAsync("volume", "list", "--json")).Json().AsArray();
        Assert.DoesNotContain(list, v => v!["name"]!.GetValue<string>().StartsWith("leak", StringComparison.Ordinal));
    }

    private static StringContent Body(string path) => new(new JsonObject { ["path"] = path }.ToJsonString(), Encoding.UTF8, LocalFile);

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The HttpClient owns the handler and disposes it.")]
    private static HttpClient SocketClient(string socket) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
            return new NetworkStream(s, ownsSocket: true);
        },
    }) { BaseAddress = new Uri("http://localhost") };
}
