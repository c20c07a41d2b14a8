using System.CommandLine;
using System.Globalization;
using Cairn.Contracts;

namespace Cairn.Cli;

/// <summary><c>cairn target create|list|show|delete|allow|deny</c>. Secrets are sent once and never shown again.</summary>
internal static class TargetCommands
{
    public static Command Target()
    {
        var target = new Command("target", "iSCSI targets: LUNs, allowed initiators, CHAP");
        var iqn = new Argument<string>("IQN") { Description = "Target name (iqn.YYYY-MM.reverse.domain:name)" };
        var volume = new Option<string[]>("--volume") { HelpName = "NAME", Description = "Volume (or NAME@SNAP, read-only) to map; repeat for more LUNs", Required = true, AllowMultipleArgumentsPerToken = false };
        var lun = new Option<int>("--lun") { HelpName = "N", Description = "LUN number of the first volume (default 0)" };
        var initiator = new Option<string[]>("--initiator") { HelpName = "IQN", Description = "Initiator IQN allowed to log in; repeat for more" };
        var chapUser = new Option<string?>("--chap-user") { HelpName = "USER", Description = "CHAP user the initiator authenticates as" };
        var chapSecret = new Option<string?>("--chap-secret") { HelpName = "SECRET", Description = "CHAP secret (12-255 chars; or $CAIRN_CHAP_SECRET)" };
        var mutualUser = new Option<string?>("--mutual-user") { HelpName = "USER", Description = "Mutual CHAP user the target answers as" };
        var mutualSecret = new Option<string?>("--mutual-secret") { HelpName = "SECRET", Description = "Mutual CHAP secret (or $CAIRN_MUTUAL_SECRET)" };
        var shared = new Option<bool>("--shared") { Description = "Export a volume that another target (or another LUN) already exports read-write: only for initiators that coordinate, such as a cluster filesystem" };
        var readOnly = new Option<bool>("--read-only") { Description = "Map the volumes read-only: the target refuses writes (snapshots are always read-only)" };
        var create = new Command("create", "Create a target") { iqn, volume, lun, initiator, chapUser, chapSecret, mutualUser, mutualSecret, shared, readOnly };
        create.Handle(async (pr, api, ct) =>
        {
            var first = pr.GetValue(lun);
            var body = new CreateTargetRequest(
                Iqn: pr.GetValue(iqn),
                Luns: [.. pr.GetValue(volume)!.Select((v, i) => new TargetLunRequest(first + i, v, pr.GetValue(readOnly) ? true : null))],
                Initiators: pr.GetValue(initiator) ?? [],
                ChapUser: pr.GetValue(chapUser),
                ChapSecret: pr.GetValue(chapSecret) ?? (pr.GetValue(chapUser) is null ? null : Environment.GetEnvironmentVariable("CAIRN_CHAP_SECRET")),
                MutualUser: pr.GetValue(mutualUser),
                MutualSecret: pr.GetValue(mutualSecret) ?? (pr.GetValue(mutualUser) is null ? null : Environment.GetEnvironmentVariable("CAIRN_MUTUAL_SECRET")),
                Shared: pr.GetValue(shared) ? true : null);
            Show(pr, await api.PostAsync("cairn/v1/targets", body, Json.CreateTargetRequest, Json.TargetDto, ct));
        });

        var list = new Command("list", "List targets");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync("cairn/v1/targets", Json.TargetDtoArray, ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.TargetDtoArray); return; }
            Output.Table(["IQN", "LUNS", "INITIATORS", "CHAP", "SESSIONS"], n.Select(t => new[]
            {
                t.Iqn,
                string.Join(",", t.Luns.Select(l => $"{l.Lun.ToString(CultureInfo.InvariantCulture)}:{l.Volume}{(l.ReadOnly ? "(ro)" : "")}")),
                t.Initiators.Count == 0 ? "-" : string.Join(",", t.Initiators),
                t.MutualUser is not null ? "mutual" : t.ChapUser is not null ? "one-way" : "none",
                t.Sessions.ToString(CultureInfo.InvariantCulture),
            }));
        });

        var show = new Command("show", "Show a target") { iqn };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}", Json.TargetDto, ct)));

        var delete = new Command("delete", "Delete a target; its live sessions are ended") { iqn };
        delete.Handle(async (pr, api, ct) =>
        {
            await api.DeleteAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}", ct);
            var deleted = pr.GetValue(iqn)!.ToLowerInvariant();
            if (pr.JsonWanted()) Output.Json(new DeletedAnswer(deleted), CliJsonContext.Default.DeletedAnswer);
            else Output.Fields(("deleted", deleted));
        });

        var init = new Argument<string>("INITIATOR") { Description = "Initiator IQN" };
        var allow = new Command("allow", "Allow an initiator to log in") { iqn, init };
        allow.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/initiators",
            new InitiatorRequest(pr.GetValue(init)), Json.InitiatorRequest, Json.TargetDto, ct)));
        var deny = new Command("deny", "Remove an initiator; its sessions are ended") { iqn, init };
        deny.Handle(async (pr, api, ct) => Show(pr, await api.DeleteAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/initiators/{Uri.EscapeDataString(pr.GetValue(init)!)}", Json.TargetDto, ct)));

        var sessions = new Command("sessions", "List a target's live sessions") { iqn };
        sessions.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/sessions", Json.SessionDtoArray, ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.SessionDtoArray); return; }
            Output.Table(["TARGET", "INITIATOR", "ADDRESS"], n.Select(x => new[] { x.Target, x.Initiator, x.Address ?? "-" }));
        });
        var only = new Option<string?>("--initiator") { Description = "Only this initiator's sessions" };
        var logout = new Command("logout", "End a target's live sessions (the initiators may log in again; to keep one out, deny it)") { iqn, only };
        logout.Handle(async (pr, api, ct) =>
        {
            var q = pr.GetValue(only) is { } i ? "?initiator=" + Uri.EscapeDataString(i) : "";
            var n = await api.DeleteAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/sessions{q}", Json.SessionsEnded, ct);
            Commands.Show(pr, n, Json.SessionsEnded, e => [("target", e.Target), ("ended", e.Ended.ToString(CultureInfo.InvariantCulture))]);
        });

        var lunVolume = new Argument<string>("VOLUME") { Description = "Volume, or NAME@SNAP for a read-only LUN" };
        var lunNumber = new Option<int?>("--lun") { Description = "LUN number (default: the lowest free one)" };
        var lunShared = new Option<bool>("--shared") { Description = "The volume is already exported read-write elsewhere and its initiators coordinate" };
        var lunReadOnly = new Option<bool>("--read-only") { Description = "Map the volume read-only: the target refuses writes" };
        var lunAdd = new Command("add", "Map one more volume or snapshot as a LUN") { iqn, lunVolume, lunNumber, lunShared, lunReadOnly };
        lunAdd.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/luns",
            new AddLunRequest(pr.GetValue(lunVolume), pr.GetValue(lunNumber), pr.GetValue(lunShared) ? true : null, pr.GetValue(lunReadOnly) ? true : null), Json.AddLunRequest, Json.TargetDto, ct)));
        var lunArg = new Argument<int>("LUN") { Description = "LUN number to unmap" };
        var lunRemove = new Command("remove", "Unmap a LUN (a target keeps at least one)") { iqn, lunArg };
        lunRemove.Handle(async (pr, api, ct) => Show(pr, await api.DeleteAsync(
            $"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/luns/{pr.GetValue(lunArg).ToString(CultureInfo.InvariantCulture)}", Json.TargetDto, ct)));
        var luns = new Command("lun", "Add or remove a target's LUNs") { lunAdd, lunRemove };

        foreach (var c in new[] { create, list, show, delete, allow, deny, sessions, logout, luns }) target.Subcommands.Add(c);
        return target;
    }

    private static CairnJsonContext Json => CairnJsonContext.Default;

    private static void Show(ParseResult pr, TargetDto t) => Commands.Show(pr, t, Json.TargetDto, t => [
        ("iqn", t.Iqn),
        ("luns", Output.List(t.Luns.Select(l => $"{l.Lun.ToString(CultureInfo.InvariantCulture)}:{l.Volume}{(l.ReadOnly ? " (read-only)" : "")}"))),
        ("initiators", t.Initiators.Count == 0 ? "- (nobody may log in)" : string.Join(", ", t.Initiators)),
        ("chap_user", Output.Str(t.ChapUser)),
        ("mutual_user", Output.Str(t.MutualUser)),
        ("portal", Output.Str(t.Portal)),
        ("sessions", t.Sessions.ToString(CultureInfo.InvariantCulture)),
        ("created", Output.Time(t.Created)),
    ]);
}
