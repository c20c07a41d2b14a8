using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Storage;
using Cairn.Core.Transfer;

namespace Cairn.Cli;

/// <summary>The client commands: each talks to the server's admin API.</summary>
internal static class Commands
{
    private static string Bool(bool b) => b ? "true" : "false";

    public static readonly Option<string?> Server = new("--server") { Description = "Server URL or unix:SOCKET (default $CAIRN_SERVER, else a local server's socket, else http://127.0.0.1:8776)", Recursive = true };
    public static readonly Option<bool> JsonOut = new("--json") { Description = "Print JSON for scripts", Recursive = true };

    /// <summary>Wraps an action: one-line error and a non-zero exit code on any failure.</summary>
    public static void Handle(this Command cmd, Func<ParseResult, ApiClient, CancellationToken, Task> action) =>
        cmd.SetAction(async (pr, ct) =>
        {
            try
            {
                using var api = new ApiClient(pr.GetValue(Server));
                await action(pr, api, ct);
                return 0;
            }
            catch (CliError e)
            {
                await Console.Error.WriteLineAsync("error: " + e.Message);
                return e.ExitCode;
            }
            catch (CairnException e)
            {
                await Console.Error.WriteLineAsync("error: " + e.Message);
                return 2;
            }
            catch (IOException e)
            {
                await Console.Error.WriteLineAsync("error: " + e.Message);
                return 1;
            }
            catch (UnauthorizedAccessException e)
            {
                await Console.Error.WriteLineAsync("error: " + e.Message);
                return 1;
            }
        });

    private static long ParseSize(string text) => Sizes.Parse(text);

    public static Command Volume()
    {
        var volume = new Command("volume", "Create, list, import, export, resize and destroy volumes");
        var name = new Argument<string>("NAME") { Description = "Volume name, pool/a/b" };
        var size = new Option<string>("--size", "-s") { Description = "Size in bytes or binary units (10G, 512M)", Required = true };
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parent folders" };

        var create = new Command("create", "Create a thin volume") { name, size, parents };
        create.Handle(async (pr, api, ct) =>
        {
            var n = await api.PostAsync("cairn/v1/volumes", new JsonObject { ["name"] = pr.GetValue(name), ["size"] = ParseSize(pr.GetValue(size)!), ["parents"] = pr.GetValue(parents) }, ct);
            Show(pr, n);
        });

        var file = new Argument<string>("FILE") { Description = "Raw image file" };
        var sync = new Option<bool>("--sync") { Description = "Return only once the image is on stable storage (default: once it survives a crash of the server; stable storage follows in the background)" };
        var import = new Command("import", "Import a raw image into a volume (created sized to the file if absent); zero blocks are not stored") { name, file, parents, sync };
        import.Handle(async (pr, api, ct) =>
        {
            var path = pr.GetValue(file)!;
            if (!File.Exists(path)) throw new CliError($"file {path} does not exist");
            var url = $"cairn/v1/volume-data/{ApiClient.Path(pr.GetValue(name)!)}?parents={Bool(pr.GetValue(parents))}&sync={Bool(pr.GetValue(sync))}";
            JsonNode? n;
            if (api.SocketPath is not null)
            {
                // A local server reads the file itself: no copy through a socket.
                n = await api.SendAsync(HttpMethod.Put, url, new JsonObject { ["path"] = Path.GetFullPath(path) }, ct, SparseStream.LocalFileMediaType);
            }
            else
            {
                using var req = new HttpRequestMessage(HttpMethod.Put, url)
                {
                    Content = new StreamingContent((s, c) => ImageFiles.EncodeAsync(path, s, null, c), SparseStream.MediaType).Typed(),
                };
                using var resp = await api.SendRawAsync(req, HttpCompletionOption.ResponseContentRead, ct);
                n = JsonNode.Parse(await resp.Content.ReadAsStringAsync(ct));
            }
            if (pr.GetValue(JsonOut)) Output.Json(n);
            else Console.WriteLine($"imported {path} into {n?["volume"]?["name"]} ({Output.Size(n?["image_size"])}, {Output.Size(n?["written"])} stored)");
        });

        var export = new Command("export", "Export a volume or snapshot (NAME@SNAP) to a raw file; holes stay holes") { name, file };
        export.Handle(async (pr, api, ct) =>
        {
            var path = pr.GetValue(file)!;
            using var req = new HttpRequestMessage(HttpMethod.Get, $"cairn/v1/volume-data/{ApiClient.Path(pr.GetValue(name)!)}");
            req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(SparseStream.MediaType));
            using var resp = await api.SendRawAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
            await using var body = await resp.Content.ReadAsStreamAsync(ct);
            var (sz, written) = await ImageFiles.DecodeAsync(body, path, ct);
            if (!pr.GetValue(JsonOut)) Console.WriteLine($"exported {pr.GetValue(name)} to {path} ({Sizes.Format(sz)}, {Sizes.Format(written)} of data)");
            else Output.Json(new JsonObject { ["file"] = path, ["size"] = sz, ["written"] = written });
        });

        var root = new Argument<string?>("ROOT") { Description = "Only this dataset and what is under it", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List volumes and folders") { root };
        list.Handle(async (pr, api, ct) =>
        {
            var r = pr.GetValue(root);
            var n = await api.GetAsync("cairn/v1/volumes" + (r is null ? "" : "?root=" + Uri.EscapeDataString(r)), ct);
            if (pr.GetValue(JsonOut)) { Output.Json(n); return; }
            Output.Table(["NAME", "TYPE", "SIZE", "USED", "REFER", "ORIGIN", "STATUS"],
                n!.AsArray().Select(v => new[] { Output.Str(v!["name"]), Output.Str(v["type"]), v["type"]!.GetValue<string>() == "folder" ? "-" : Output.Size(v["size"]),
                    Output.Size(v["used"]), Output.Size(v["referenced"]), Output.Str(v["origin"]), Output.Str(v["status"]) }));
        });

        var show = new Command("show", "Show one volume") { name };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/volumes/{ApiClient.Path(pr.GetValue(name)!)}", ct)));

        var resize = new Command("resize", "Grow a volume") { name, size };
        resize.Handle(async (pr, api, ct) => Show(pr, await api.PatchAsync($"cairn/v1/volumes/{ApiClient.Path(pr.GetValue(name)!)}", new JsonObject { ["size"] = ParseSize(pr.GetValue(size)!) }, ct)));

        var recursive = new Option<bool>("--recursive", "-r") { Description = "Also destroy its own snapshots (never other volumes' clones)" };
        var destroy = new Command("destroy", "Destroy a volume or folder") { name, recursive };
        destroy.Handle(async (pr, api, ct) =>
        {
            await api.DeleteAsync($"cairn/v1/volumes/{ApiClient.Path(pr.GetValue(name)!)}?recursive={(pr.GetValue(recursive) ? "true" : "false")}", ct);
            if (!pr.GetValue(JsonOut)) Console.WriteLine($"destroyed {pr.GetValue(name)}");
        });

        volume.Subcommands.Add(create);
        volume.Subcommands.Add(import);
        volume.Subcommands.Add(export);
        volume.Subcommands.Add(list);
        volume.Subcommands.Add(show);
        volume.Subcommands.Add(resize);
        volume.Subcommands.Add(destroy);
        return volume;
    }

    public static Command Folder()
    {
        var folder = new Command("folder", "Folders group volumes (like ZFS filesystems used as namespaces)");
        var name = new Argument<string>("NAME");
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parent folders" };
        var create = new Command("create", "Create a folder") { name, parents };
        create.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync("cairn/v1/folders", new JsonObject { ["name"] = pr.GetValue(name), ["parents"] = pr.GetValue(parents) }, ct)));
        folder.Subcommands.Add(create);
        return folder;
    }

    public static Command Snapshot()
    {
        var snapshot = new Command("snapshot", "Create, list and destroy snapshots");
        var snap = new Argument<string>("NAME@SNAP");
        var create = new Command("create", "Take a read-only snapshot") { snap };
        create.Handle(async (pr, api, ct) =>
        {
            var n = await api.PostAsync("cairn/v1/snapshots", new JsonObject { ["name"] = pr.GetValue(snap) }, ct);
            if (pr.GetValue(JsonOut)) Output.Json(n);
            else Console.WriteLine($"created snapshot {n?["name"]}");
        });
        var volume = new Argument<string?>("NAME") { Arity = ArgumentArity.ZeroOrOne, Description = "Only this volume's snapshots" };
        var list = new Command("list", "List snapshots") { volume };
        list.Handle(async (pr, api, ct) =>
        {
            var v = pr.GetValue(volume);
            var n = await api.GetAsync("cairn/v1/snapshots" + (v is null ? "" : "?volume=" + Uri.EscapeDataString(v)), ct);
            if (pr.GetValue(JsonOut)) { Output.Json(n); return; }
            Output.Table(["NAME", "USED", "REFER", "CLONES", "CREATED"],
                n!.AsArray().Select(s => new[] { Output.Str(s!["name"]), Output.Size(s["used"]), Output.Size(s["referenced"]),
                    s["clones"]!.AsArray().Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Output.Time(s["created"]) }));
        });
        var show = new Command("show", "Show one snapshot") { snap };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/snapshots/{ApiClient.Path(pr.GetValue(snap)!)}", ct)));
        var destroy = new Command("destroy", "Destroy a snapshot (refused while it has clones)") { snap };
        destroy.Handle(async (pr, api, ct) =>
        {
            await api.DeleteAsync($"cairn/v1/snapshots/{ApiClient.Path(pr.GetValue(snap)!)}", ct);
            if (!pr.GetValue(JsonOut)) Console.WriteLine($"destroyed {pr.GetValue(snap)}");
        });
        snapshot.Subcommands.Add(create);
        snapshot.Subcommands.Add(list);
        snapshot.Subcommands.Add(show);
        snapshot.Subcommands.Add(destroy);
        return snapshot;
    }

    public static Command Clone()
    {
        var src = new Argument<string>("SRC@SNAP");
        var dst = new Argument<string>("DST");
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parent folders" };
        var clone = new Command("clone", "Make a writable copy-on-write clone of a snapshot") { src, dst, parents };
        clone.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync("cairn/v1/clones", new JsonObject { ["source"] = pr.GetValue(src), ["target"] = pr.GetValue(dst), ["parents"] = pr.GetValue(parents) }, ct)));
        return clone;
    }

    public static Command Pool()
    {
        var pool = new Command("pool", "Create, list and show pools (each backed by one engine)");
        var name = new Argument<string>("NAME") { Description = "Pool name (one component; for zfs, the existing zpool's name)" };
        var engine = new Option<string>("--engine", "-e") { Description = "Engine: embedded (default) or zfs (adopts the existing zpool NAME)", DefaultValueFactory = _ => "embedded" };

        var create = new Command("create", "Create a pool (zfs: adopt the zpool of that name)") { name, engine };
        create.Handle(async (pr, api, ct) =>
            Show(pr, await api.PostAsync("cairn/v1/pools", new JsonObject { ["name"] = pr.GetValue(name), ["engine"] = pr.GetValue(engine) }, ct)));

        var list = new Command("list", "List pools with their engine and space");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync("cairn/v1/pools", ct);
            if (pr.GetValue(JsonOut)) { Output.Json(n); return; }
            Output.Table(["NAME", "ENGINE", "HEALTH", "SIZE", "ALLOC", "FREE", "DATASETS", "SNAPSHOTS"],
                ((JsonArray)n!).Select(p => new[]
                {
                    Output.Str(p!["name"]), Output.Str(p["engine"]), Output.Str(p["health"]), Output.Size(p["size"]), Output.Size(p["allocated"]),
                    Output.Size(p["free"]), Output.Str(p["datasets"]), Output.Str(p["snapshots"]),
                }));
        });

        var show = new Command("show", "Show one pool") { name };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync("cairn/v1/pools/" + Uri.EscapeDataString(pr.GetValue(name)!), ct)));

        pool.Subcommands.Add(create);
        pool.Subcommands.Add(list);
        pool.Subcommands.Add(show);
        return pool;
    }

    internal static void Show(ParseResult pr, JsonNode? n)
    {
        if (pr.GetValue(JsonOut) || n is not JsonObject o) Output.Json(n);
        else Output.Fields(o);
    }
}
