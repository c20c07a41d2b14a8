using System.CommandLine;
using Cairn.Contracts;
using System.Net.Http.Headers;
using System.Text.Json;
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
            var body = new CreateVolumeRequest(pr.GetValue(name), Fields.Size(ParseSize(pr.GetValue(size)!)), pr.GetValue(parents));
            Show(pr, await api.PostAsync("cairn/v1/volumes", body, Json.CreateVolumeRequest, Json.VolumeDto, ct), Json.VolumeDto);
        });

        var file = new Argument<string>("FILE") { Description = "Raw image file" };
        var sync = new Option<bool>("--sync") { Description = "Return only once the image is on stable storage (default: once it survives a crash of the server; stable storage follows in the background)" };
        var force = new Option<bool>("--force", "-f") { Description = "Replace the data of an existing volume (refused while a target exporting it has live sessions)" };
        var import = new Command("import", "Import a raw image into a volume (created sized to the file if absent); zero blocks are not stored") { name, file, parents, sync, force };
        import.Handle(async (pr, api, ct) =>
        {
            var path = pr.GetValue(file)!;
            if (!File.Exists(path)) throw new CliError($"file {path} does not exist");
            var url = $"cairn/v1/volume-data/{ApiClient.Path(pr.GetValue(name)!)}?parents={Bool(pr.GetValue(parents))}&sync={Bool(pr.GetValue(sync))}&force={Bool(pr.GetValue(force))}";
            ImportAnswer n;
            if (api.SocketPath is not null)
            {
                // A local server reads the file itself: no copy through a socket.
                n = await api.PutAsync(url, new LocalFileImport(Path.GetFullPath(path)), Json.LocalFileImport, Json.ImportAnswer, SparseStream.LocalFileMediaType, ct);
            }
            else
            {
                using var req = new HttpRequestMessage(HttpMethod.Put, url)
                {
                    Content = new StreamingContent((s, c) => ImageFiles.EncodeAsync(path, s, null, c), SparseStream.MediaType).Typed(),
                };
                // A refusal (the volume exists, or is in use) comes before the image is sent, not after all of it.
                req.Headers.ExpectContinue = true;
                using var resp = await api.SendRawAsync(req, HttpCompletionOption.ResponseContentRead, ct);
                n = ApiClient.Read(await resp.Content.ReadAsStringAsync(ct), Json.ImportAnswer);
            }
            if (pr.GetValue(JsonOut)) Output.Json(n, Json.ImportAnswer);
            else Console.WriteLine($"imported {path} into {n.Volume.Name} ({Output.Size(n.ImageSize)}, {Output.Size(n.Written)} stored)");
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
            else Output.Json(new ExportedImage(path, sz, written), CliJsonContext.Default.ExportedImage);
        });

        var root = new Argument<string?>("ROOT") { Description = "Only this dataset and what is under it", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List volumes and folders") { root };
        list.Handle(async (pr, api, ct) =>
        {
            var r = pr.GetValue(root);
            var n = await api.GetAsync("cairn/v1/volumes" + (r is null ? "" : "?root=" + Uri.EscapeDataString(r)), Json.VolumeDtoArray, ct);
            if (pr.GetValue(JsonOut)) { Output.Json(n, Json.VolumeDtoArray); return; }
            Output.Table(["NAME", "TYPE", "SIZE", "USED", "REFER", "ORIGIN", "STATUS"],
                n.Select(v => new[] { v.Name, v.Type, v.Type == "folder" ? "-" : Output.Size(v.Size),
                    Output.Size(v.Used), Output.Size(v.Referenced), Output.Str(v.Origin), v.Status }));
        });

        var show = new Command("show", "Show one volume") { name };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/volumes/{ApiClient.Path(pr.GetValue(name)!)}", Json.VolumeDto, ct), Json.VolumeDto));

        var resize = new Command("resize", "Grow a volume") { name, size };
        resize.Handle(async (pr, api, ct) => Show(pr, await api.PatchAsync($"cairn/v1/volumes/{ApiClient.Path(pr.GetValue(name)!)}",
            new ResizeRequest(Fields.Size(ParseSize(pr.GetValue(size)!))), Json.ResizeRequest, Json.VolumeDto, ct), Json.VolumeDto));

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
        create.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync("cairn/v1/folders",
            new CreateFolderRequest(pr.GetValue(name), pr.GetValue(parents)), Json.CreateFolderRequest, Json.VolumeDto, ct), Json.VolumeDto));
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
            var n = await api.PostAsync("cairn/v1/snapshots", new CreateSnapshotRequest(pr.GetValue(snap)), Json.CreateSnapshotRequest, Json.SnapshotDto, ct);
            if (pr.GetValue(JsonOut)) Output.Json(n, Json.SnapshotDto);
            else Console.WriteLine($"created snapshot {n.Name}");
        });
        var volume = new Argument<string?>("NAME") { Arity = ArgumentArity.ZeroOrOne, Description = "Only this volume's snapshots" };
        var list = new Command("list", "List snapshots") { volume };
        list.Handle(async (pr, api, ct) =>
        {
            var v = pr.GetValue(volume);
            var n = await api.GetAsync("cairn/v1/snapshots" + (v is null ? "" : "?volume=" + Uri.EscapeDataString(v)), Json.SnapshotDtoArray, ct);
            if (pr.GetValue(JsonOut)) { Output.Json(n, Json.SnapshotDtoArray); return; }
            Output.Table(["NAME", "USED", "REFER", "CLONES", "CREATED"],
                n.Select(s => new[] { s.Name, Output.Size(s.Used), Output.Size(s.Referenced),
                    s.Clones.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Output.Time(s.Created) }));
        });
        var show = new Command("show", "Show one snapshot") { snap };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/snapshots/{ApiClient.Path(pr.GetValue(snap)!)}", Json.SnapshotDto, ct), Json.SnapshotDto));
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
        clone.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync("cairn/v1/clones",
            new CloneRequest(pr.GetValue(src), pr.GetValue(dst), pr.GetValue(parents)), Json.CloneRequest, Json.VolumeDto, ct), Json.VolumeDto));
        return clone;
    }

    public static Command Pool()
    {
        var pool = new Command("pool", "Create, list and show pools (each backed by one engine)");
        var name = new Argument<string>("NAME") { Description = "Pool name (one component; for zfs, the existing zpool's name)" };
        var engine = new Option<string>("--engine", "-e") { Description = "Engine: embedded (default) or zfs (adopts the existing zpool NAME)", DefaultValueFactory = _ => "embedded" };

        var create = new Command("create", "Create a pool (zfs: adopt the zpool of that name)") { name, engine };
        create.Handle(async (pr, api, ct) =>
            Show(pr, await api.PostAsync("cairn/v1/pools", new CreatePoolRequest(pr.GetValue(name), pr.GetValue(engine)), Json.CreatePoolRequest, Json.PoolDto, ct), Json.PoolDto));

        var list = new Command("list", "List pools with their engine and space");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync("cairn/v1/pools", Json.PoolDtoArray, ct);
            if (pr.GetValue(JsonOut)) { Output.Json(n, Json.PoolDtoArray); return; }
            Output.Table(["NAME", "ENGINE", "HEALTH", "SIZE", "ALLOC", "FREE", "DATASETS", "SNAPSHOTS"],
                n.Select(p => new[]
                {
                    p.Name, p.Engine, p.Health, Output.Size(p.Size), Output.Size(p.Allocated),
                    Output.Size(p.Free), Output.Str(p.Datasets), Output.Str(p.Snapshots),
                }));
        });

        var show = new Command("show", "Show one pool") { name };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync("cairn/v1/pools/" + Uri.EscapeDataString(pr.GetValue(name)!), Json.PoolDto, ct), Json.PoolDto));

        pool.Subcommands.Add(create);
        pool.Subcommands.Add(list);
        pool.Subcommands.Add(show);
        return pool;
    }

    /// <summary>The contracts' JSON metadata (source-generated).</summary>
    internal static CairnJsonContext Json => CairnJsonContext.Default;

    /// <summary>One answer: JSON with <c>--json</c>, else its fields as "key: value" lines.</summary>
    internal static void Show<T>(ParseResult pr, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var n = Output.Node(value, type);
        if (pr.GetValue(JsonOut) || n is not System.Text.Json.Nodes.JsonObject o) Output.Json(n);
        else Output.Fields(o);
    }
}
