// s2l-dub for Adobe Premiere Pro (ExtendScript): dub the active sequence.
// Run from File > Scripts > Run Script (Premiere 2025 and later), or from VS Code with the
// ExtendScript Debugger. Exports the sequence as FCP7 XML (Premiere's interchange),
// runs s2l-dub, and imports the dubbed sequence into the project.
(function () {
    var sequence = app.project.activeSequence;
    if (!sequence) { alert("s2l-dub: open the sequence to dub first."); return; }
    var safe = sequence.name.replace(/[^A-Za-z0-9_.-]+/g, "_");
    var folder = new Folder(Folder.temp.fsName + "/s2l-" + safe);
    if (!folder.exists) { folder.create(); }
    var exported = folder.fsName + "/" + safe + ".xml";
    sequence.exportAsFinalCutProXML(exported, 1);  // 1: no dialog

    var stem = File.openDialog("Dub stem (new-language dialogue, conformed to the edit)");
    if (!stem) { return; }
    var lang = prompt("Language tag", "fr") || "dub";
    var subtitles = File.openDialog("Subtitles (optional: Cancel to detect speech)");
    var output = folder.fsName + "/" + safe + "." + lang + ".xml";
    var command = 's2l-dub "' + exported + '" --audio "' + stem.fsName + '" --lang ' + lang +
        ' -o "' + output + '"' + (subtitles ? ' --subtitles "' + subtitles.fsName + '"' : "");
    var log = system.callSystem(command + " 2>&1");
    if (!new File(output).exists) { alert("s2l-dub failed:\n" + log.split("\n").slice(-3).join("\n")); return; }
    app.project.importFiles([output], true, app.project.getInsertionBin(), false);
    alert("s2l-dub: imported " + output + "\nReview the clips with red 'S2L QC' markers.");
}());
